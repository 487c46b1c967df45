/**
 * The original files of each dataset: where they are published, their checksums
 * and where they sit in the data dir (`<dataDir>/<folder>/<name>`).
 */

export interface DataFile {
  /** Path inside the dataset folder; for archive members also the member name. */
  name: string;
  md5?: string;
  sha256?: string;
  bytes?: number;
  /** Download address; absent for files that come out of the dataset's archive. */
  url?: string;
}

export interface DatasetManifest {
  id: string;
  folder: string;
  homepage: string;
  files: DataFile[];
  /** A download whose members are the files above (CIFAR-10's tarball). */
  archive?: DataFile & { url: string };
  /** The test subset the package ships (scripts/make-bundled-subsets.ts), checked like the originals. */
  bundled?: DataFile[];
  split: { train: string[]; test: string[] };
}

const MNIST_URL = 'https://ossci-datasets.s3.amazonaws.com/mnist/';
const FASHION_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
const IDX_SPLITS = {
  train: ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  test: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'],
};

export const MNIST: DatasetManifest = {
  id: 'mnist',
  folder: 'mnist',
  homepage: 'http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)',
  files: [
    { name: 'train-images-idx3-ubyte.gz', bytes: 9912422, md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873', sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609' },
    { name: 'train-labels-idx1-ubyte.gz', bytes: 28881, md5: 'd53e105ee54ea40749a09fcbcd1e9432', sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c' },
    { name: 't10k-images-idx3-ubyte.gz', bytes: 1648877, md5: '9fb629c4189551a2d022fa330f9573f3', sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6' },
    { name: 't10k-labels-idx1-ubyte.gz', bytes: 4542, md5: 'ec29112dd5afa0611ce80d1b7f02629c', sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6' },
  ].map((f) => ({ ...f, url: MNIST_URL + f.name })),
  bundled: [
    { name: 't10k-images-idx3-ubyte.gz', bytes: 155601, sha256: 'd1d48b86c4f0486b87f40dcfd016a7e189373c5a3982f7d71598ecad451e0f29' },
    { name: 't10k-labels-idx1-ubyte.gz', bytes: 479, sha256: '23a794b925ee8ef8df188142122c3af00063bfe1235f0cc888145dacaa742d80' },
  ],
  split: IDX_SPLITS,
};

export const FASHION_MNIST: DatasetManifest = {
  id: 'fashion-mnist',
  folder: 'fashion-mnist',
  homepage: 'https://github.com/zalandoresearch/fashion-mnist',
  files: [
    { name: 'train-images-idx3-ubyte.gz', bytes: 26421880, md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', sha256: '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84' },
    { name: 'train-labels-idx1-ubyte.gz', bytes: 29515, md5: '25c81989df183df01b3e8a0aad5dffbe', sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845' },
    { name: 't10k-images-idx3-ubyte.gz', bytes: 4422102, md5: 'bef4ecab320f06d8554ea6380940ec79', sha256: '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073' },
    { name: 't10k-labels-idx1-ubyte.gz', bytes: 5148, md5: 'bb300cfdad3c16e7a12a480ee83cd310', sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5' },
  ].map((f) => ({ ...f, url: FASHION_URL + f.name })),
  bundled: [
    { name: 't10k-images-idx3-ubyte.gz', bytes: 441605, sha256: '88b031533d21cfee68065186bbf4196b30cbb1a2fadb1a8650cde5e8ea150504' },
    { name: 't10k-labels-idx1-ubyte.gz', bytes: 479, sha256: '022859667ecef9511911e2eb65ab155630bd0f6bb0a47bbb1c92c5f91152dd12' },
  ],
  split: IDX_SPLITS,
};

const CIFAR_BATCHES = 'cifar-10-batches-bin/';
const CIFAR_BATCH_SHA256: [string, string][] = [
  ['data_batch_1.bin', 'cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5'],
  ['data_batch_2.bin', 'a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed'],
  ['data_batch_3.bin', 'bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67'],
  ['data_batch_4.bin', '014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48'],
  ['data_batch_5.bin', '755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add'],
  ['test_batch.bin', '8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b'],
];

export const CIFAR10: DatasetManifest = {
  id: 'cifar10',
  folder: 'cifar-10',
  homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
  files: CIFAR_BATCH_SHA256.map(([name, sha256]) => ({ name: CIFAR_BATCHES + name, sha256, bytes: 30730000 })),
  archive: { name: 'cifar-10-binary.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', md5: 'c58f30108f718f92721af3b95e74349a' },
  bundled: [{ name: 'test_batch.1000.bin.gz', bytes: 2859887, sha256: 'a8dbb5b22752509c54f045a2f1a6ea40d3c42c864bd733127f68981b7a5a65e8' }],
  split: {
    train: [1, 2, 3, 4, 5].map((i) => `${CIFAR_BATCHES}data_batch_${i}.bin`),
    test: [`${CIFAR_BATCHES}test_batch.bin`],
  },
};

export const SVHN: DatasetManifest = {
  id: 'svhn',
  folder: 'svhn',
  homepage: 'http://ufldl.stanford.edu/housenumbers/',
  files: [
    { name: 'train_32x32.mat', url: 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat', md5: 'e26dedcc434d2e4c54c9b2d4a06d8373' },
    { name: 'test_32x32.mat', url: 'http://ufldl.stanford.edu/housenumbers/test_32x32.mat', md5: 'eb5a983be6a315427106f1b164d9cef3' },
  ],
  split: { train: ['train_32x32.mat'], test: ['test_32x32.mat'] },
};

export const MANIFESTS: DatasetManifest[] = [MNIST, FASHION_MNIST, CIFAR10, SVHN];
