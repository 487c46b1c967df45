import test from 'ava';
import { readFileSync } from 'node:fs';
import { RobenchError } from '../../src/core/errors.js';
import { parseMat } from '../../src/data/mat5.js';
import { decodeSvhn } from '../../src/data/svhn-loader.js';
import { writeMat5, type MatVar } from '../fixtures/mat5-writer.js';

const N = 3;
/** Distinct values per (row, col, channel, image), asymmetric in row and column so a transpose shows. */
const pixel = (r: number, c: number, ch: number, n: number) => (r * 7 + c * 13 + ch * 101 + n * 37) % 256;

function svhnVars(labels: number[], yStore: MatVar['storeAs'] = 'double'): MatVar[] {
  const n = labels.length;
  const X = new Uint8Array(32 * 32 * 3 * n);
  // MATLAB column-major: the first index (row) varies fastest.
  for (let i = 0; i < n; i++) for (let ch = 0; ch < 3; ch++) for (let c = 0; c < 32; c++) for (let r = 0; r < 32; r++) {
    X[r + 32 * c + 1024 * ch + 3072 * i] = pixel(r, c, ch, i);
  }
  return [
    { name: 'X', mxClass: 'uint8', dims: [32, 32, 3, n], values: X },
    { name: 'y', mxClass: 'double', dims: [n, 1], values: labels, storeAs: yStore },
  ];
}

function assertNhwc(t: any, images: Float32Array, n: number) {
  t.is(images.length, n * 32 * 32 * 3);
  for (const [i, r, c, ch] of [[0, 0, 0, 0], [0, 1, 2, 1], [n - 1, 31, 0, 2], [n - 1, 5, 30, 1], [1, 17, 3, 0]] as const) {
    t.is(images[((i * 32 + r) * 32 + c) * 3 + ch], Math.fround(pixel(r, c, ch, i) / 255), `image ${i} row ${r} col ${c} channel ${ch}`);
  }
  let bad = 0;
  for (let i = 0; i < n; i++) for (let r = 0; r < 32; r++) for (let c = 0; c < 32; c++) for (let ch = 0; ch < 3; ch++) {
    if (images[((i * 32 + r) * 32 + c) * 3 + ch] !== Math.fround(pixel(r, c, ch, i) / 255)) bad++;
  }
  t.is(bad, 0);
}

for (const compress of [false, true]) {
  for (const bigEndian of [false, true]) {
    test(`SVHN-style MAT v5 (${compress ? 'miCOMPRESSED' : 'uncompressed'}, ${bigEndian ? 'big' : 'little'}-endian): column-major X to NHWC, label 10 means 0`, (t) => {
      const buf = writeMat5(svhnVars([10, 1, 5]), { compress, bigEndian });
      const d = decodeSvhn(buf, 'gen.mat', undefined);
      t.is(d.count, N);
      t.deepEqual([...d.labels], [0, 1, 5]);
      assertNhwc(t, d.images, N);
    });
  }
}

test('parseMat reports class, dims, names in the small element format and the stored data type', (t) => {
  const vars = parseMat(writeMat5(svhnVars([10, 2], 'uint8')), 'gen.mat');
  t.deepEqual([...vars.keys()], ['X', 'y']);
  const y = vars.get('y')!;
  t.is(y.className, 'double');
  t.deepEqual(y.dims, [2, 1]);
  t.true(y.real instanceof Uint8Array, 'a double array stored as miUINT8 keeps its stored type');
  t.deepEqual([...(y.real as Uint8Array)], [10, 2]);
  const yd = parseMat(writeMat5(svhnVars([7, 10], 'double'), { bigEndian: true }), 'gen.mat').get('y')!;
  t.deepEqual([...(yd.real as Float64Array)], [7, 10]);
});

test('labels stored as uint8 (type narrower than the class) decode the same, and samples takes the first ones', (t) => {
  const d = decodeSvhn(writeMat5(svhnVars([10, 4, 9], 'uint8'), { compress: true }), 'gen.mat', 2);
  t.is(d.count, 2);
  t.deepEqual([...d.labels], [0, 4]);
  t.is(d.images.length, 2 * 3072);
  t.is(d.images[((1 * 32 + 3) * 32 + 4) * 3 + 2], Math.fround(pixel(3, 4, 2, 1) / 255));
  t.throws(() => decodeSvhn(writeMat5(svhnVars([1, 2])), 'gen.mat', 3), { message: /--samples 3 is more than the 2 images/ });
});

test('files written by scipy.io.savemat (compressed and not) decode identically', (t) => {
  for (const name of ['svhn-like-scipy.mat', 'svhn-like-scipy-compressed.mat']) {
    const buf = readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
    const d = decodeSvhn(buf, name, undefined);
    t.deepEqual([...d.labels], [0, 1, 5, 3]);
    assertNhwc(t, d.images, 4);
  }
});

const corrupt = (buf: Buffer, pattern: RegExp, t: any) => {
  const e = t.throws(() => decodeSvhn(buf, 'bad.mat', undefined), { instanceOf: RobenchError, message: pattern });
  t.regex(e.message, /^bad\.mat: /, 'the error names the file');
};

test('corrupt MAT files are errors naming the file and the problem', (t) => {
  const good = writeMat5(svhnVars([1, 2, 3]));
  corrupt(good.subarray(0, 100), /shorter than the 128-byte/, t);
  const text = Buffer.from(good);
  text.write('NOT A MAT', 0);
  corrupt(text, /not a MATLAB v5 MAT-file/, t);
  const v73 = Buffer.from(good);
  v73.write('MATLAB 7.3 MAT-file', 0);
  corrupt(v73, /v7\.3 \(HDF5\)/, t);
  const endian = Buffer.from(good);
  endian.write('XX', 126, 'ascii');
  corrupt(endian, /endian indicator/, t);
  corrupt(good.subarray(0, good.length - 5000), /truncated/, t);
  const compressed = writeMat5(svhnVars([1, 2, 3]), { compress: true });
  corrupt(compressed.subarray(0, compressed.length - 50), /truncated/, t);
  const garbled = Buffer.from(compressed);
  garbled.fill(0x55, 140, 160);
  corrupt(garbled, /compressed element .* truncated or corrupt/, t);
});

test('wrong sizes: dims that disagree with the data, wrong image shape, label count or range, missing variables', (t) => {
  const vars = svhnVars([1, 2]);
  corrupt(writeMat5([{ ...vars[0]!, dims: [32, 32, 3, 3] }, vars[1]!]), /X.*is 32x32x3x3 \(9216 values\) but holds 6144/, t);
  corrupt(writeMat5([{ ...vars[0]!, dims: [32, 16, 3, 4] }, vars[1]!]), /X is 32x16x3x4, expected 32x32x3xN/, t);
  corrupt(writeMat5([vars[0]!, { ...vars[1]!, dims: [1, 1], values: [3] }]), /y holds 1 labels for 2 images/, t);
  corrupt(writeMat5([vars[0]!, { ...vars[1]!, values: [0, 4] }]), /label 0 at index 0 is outside 1\.\.10/, t);
  corrupt(writeMat5([vars[0]!]), /has no variable "y" \(found: X\)/, t);
  corrupt(writeMat5([{ ...vars[0]!, mxClass: 'double', storeAs: 'double' }, vars[1]!]), /X is stored as Float64Array, expected uint8/, t);
});

test('a compressed element is not padded to 8 bytes: the next one follows at once', (t) => {
  const buf = writeMat5(svhnVars([3, 10]), { compress: true });
  const firstLength = buf.readUInt32LE(132);
  t.not(firstLength % 8, 0, 'the fixture must exercise an unaligned compressed element');
  t.is(buf.readUInt32LE(128 + 8 + firstLength), 15, 'the second miCOMPRESSED tag starts right after the first');
  const vars = parseMat(buf, 'gen.mat');
  t.deepEqual([...vars.keys()], ['X', 'y']);
  t.deepEqual([...(vars.get('y')!.real as Float64Array)], [3, 10]);
});
