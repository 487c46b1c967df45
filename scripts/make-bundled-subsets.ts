/**
 * Writes the evaluation subsets the package ships: the first 1,000 test images of
 * MNIST, Fashion-MNIST and CIFAR-10, in their original formats, from verified
 * original files. Usage: npx tsx scripts/make-bundled-subsets.ts [dataDir]
 * (default ../shared/data).
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../src/runtime/atomic.js';
import { CIFAR_BUNDLED_NAME } from '../src/data/cifar-loader.js';
import { CIFAR_RECORD_BYTES, cifarRecordCount } from '../src/data/cifar-records.js';
import { openFiles } from '../src/data/files.js';
import { gunzipFile } from '../src/data/gzip.js';
import { encodeIdx, parseIdx } from '../src/data/idx.js';
import { CIFAR10, FASHION_MNIST, MNIST } from '../src/data/manifests.js';
import { BUNDLED_COUNT, bundledPath } from '../src/data/split.js';
import { packageRoot } from '../src/core/paths.js';

const dataDir = resolve(process.argv[2] ?? resolve(packageRoot, '..', 'shared', 'data'));
// Level 9 and no file name or mtime in the header, so reruns give identical bytes.
const gzip = (b: Uint8Array): Buffer => gzipSync(b, { level: 9 });
// Loaders refuse a bundled file that differs from the manifest's record, so a changed one must be recorded there.
const recordLine = (b: Uint8Array): string => `bytes: ${b.length}, sha256: '${createHash('sha256').update(b).digest('hex')}' (the "bundled" entry in src/data/manifests.ts)`;

for (const m of [MNIST, FASHION_MNIST]) {
  const opened = await openFiles(dataDir, m, m.split.test);
  for (const name of m.split.test) {
    const idx = parseIdx(gunzipFile(opened.bytes.get(name)!, name), name);
    const per = idx.dims.slice(1).reduce((a, b) => a * b, 1);
    const out = encodeIdx([BUNDLED_COUNT, ...idx.dims.slice(1)], idx.data.subarray(0, BUNDLED_COUNT * per));
    const gz = gzip(out);
    await writeFileAtomic(bundledPath(m, name), gz);
    console.log(`wrote ${bundledPath(m, name)}: ${recordLine(gz)}`);
  }
}

const test = CIFAR10.split.test[0]!;
const batch = (await openFiles(dataDir, CIFAR10, [test])).bytes.get(test)!;
cifarRecordCount(batch, test, 10000);
const cifarGz = gzip(batch.subarray(0, BUNDLED_COUNT * CIFAR_RECORD_BYTES));
await writeFileAtomic(bundledPath(CIFAR10, CIFAR_BUNDLED_NAME), cifarGz);
console.log(`wrote ${bundledPath(CIFAR10, CIFAR_BUNDLED_NAME)}: ${recordLine(cifarGz)}`);
