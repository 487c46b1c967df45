import test from 'ava';
import { gzipSync } from 'node:zlib';
import { RobenchError, UsageError } from '../../src/core/errors.js';
import { gunzipFile } from '../../src/data/gzip.js';
import { encodeIdx, expectIdxShape, parseIdx } from '../../src/data/idx.js';
import { decodeIdxPair } from '../../src/data/idx-loader.js';

/** An idx file built byte by byte from the format description, independent of encodeIdx. */
function handMadeIdx(typeCode: number, dims: number[], values: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = typeCode;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(values)]);
}

const N = 3;
const pixel = (n: number, r: number, c: number) => (n * 101 + r * 7 + c * 3) % 256;
const imagesRaw = () => {
  const v: number[] = [];
  for (let n = 0; n < N; n++) for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) v.push(pixel(n, r, c));
  return handMadeIdx(0x08, [N, 28, 28], v);
};

test('parseIdx reads big-endian dimensions and the magic number', (t) => {
  // 258 = 0x00000102: a little-endian reader would see 0x02010000.
  const a = parseIdx(handMadeIdx(0x08, [258, 1], new Array(258).fill(0).map((_, i) => i % 256)), 'a.idx');
  t.deepEqual(a.dims, [258, 1]);
  t.is(a.data[257], 1);
  t.deepEqual(parseIdx(encodeIdx([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6)), 'b').dims, [2, 3]);
  t.deepEqual(encodeIdx([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6)), new Uint8Array(handMadeIdx(0x08, [2, 3], [1, 2, 3, 4, 5, 6])));
});

test('MNIST-style images and labels decode to [0,1] floats in row-major order with int32 labels', (t) => {
  const d = decodeIdxPair(
    { bytes: gzipSync(imagesRaw()), label: 'img.gz' },
    { bytes: gzipSync(handMadeIdx(0x08, [N], [7, 0, 9])), label: 'lab.gz' },
    undefined,
  );
  t.is(d.count, N);
  t.true(d.images instanceof Float32Array);
  t.true(d.labels instanceof Int32Array);
  t.deepEqual([...d.labels], [7, 0, 9]);
  for (const [n, r, c] of [[0, 0, 1], [1, 2, 3], [2, 27, 0], [2, 0, 27]] as const) {
    t.is(d.images[n * 784 + r * 28 + c], Math.fround(pixel(n, r, c) / 255), `image ${n} (${r}, ${c})`);
  }
  const two = decodeIdxPair({ bytes: gzipSync(imagesRaw()), label: 'i' }, { bytes: gzipSync(handMadeIdx(0x08, [N], [7, 0, 9])), label: 'l' }, 2);
  t.is(two.count, 2);
  t.is(two.images.length, 2 * 784);
  t.deepEqual([...two.labels], [7, 0]);
});

const bad = (fn: () => unknown, pattern: RegExp, t: any, file = 'f.idx') => {
  const e = t.throws(fn, { instanceOf: RobenchError, message: pattern });
  t.true(e.message.startsWith(`${file}: `), `names the file: ${e.message}`);
};

test('wrong magic numbers, truncation and wrong sizes are errors naming the file', (t) => {
  bad(() => parseIdx(Buffer.from([1, 0, 8, 1, 0, 0, 0, 1, 5]), 'f.idx'), /bad magic number/, t);
  bad(() => parseIdx(handMadeIdx(0x0d, [1], [0, 0, 0, 0]), 'f.idx'), /type code 0xd is not unsigned byte/, t);
  bad(() => parseIdx(handMadeIdx(0x08, [0], []).subarray(0, 2), 'f.idx'), /truncated/, t);
  bad(() => parseIdx(handMadeIdx(0x08, [2, 28, 28], []).subarray(0, 10), 'f.idx'), /truncated inside the idx header/, t);
  bad(() => parseIdx(handMadeIdx(0x08, [2, 2], [1, 2, 3]), 'f.idx'), /truncated: the header says 2x2 \(4 bytes of data\) but the file holds 3/, t);
  bad(() => parseIdx(handMadeIdx(0x08, [2, 2], [1, 2, 3, 4, 5]), 'f.idx'), /wrong size: 1 bytes after/, t);
  bad(() => expectIdxShape(parseIdx(handMadeIdx(0x08, [1, 28, 27], new Array(756).fill(0)), 'f.idx'), 'f.idx', [28, 28]), /dimensions 1x28x27 are not Nx28x28/, t);
});

test('gzip problems: not gzip, truncated stream', (t) => {
  const gz = gzipSync(imagesRaw());
  bad(() => gunzipFile(imagesRaw(), 'x.gz'), /not a gzip file/, t, 'x.gz');
  bad(() => gunzipFile(gz.subarray(0, gz.length - 100), 'x.gz'), /truncated or corrupt/, t, 'x.gz');
});

test('images and labels that do not belong together, labels out of range, too many samples', (t) => {
  const img = { bytes: gzipSync(imagesRaw()), label: 'img.gz' };
  t.throws(() => decodeIdxPair(img, { bytes: gzipSync(handMadeIdx(0x08, [2], [1, 2])), label: 'lab.gz' }, undefined), {
    instanceOf: RobenchError,
    message: /img\.gz holds 3 images but lab\.gz holds 2 labels/,
  });
  t.throws(() => decodeIdxPair(img, { bytes: gzipSync(handMadeIdx(0x08, [3], [1, 10, 2])), label: 'lab.gz' }, undefined), {
    message: /lab\.gz: label 10 at index 1 is outside 0\.\.9/,
  });
  t.throws(() => decodeIdxPair(img, { bytes: gzipSync(handMadeIdx(0x08, [3], [1, 2, 3])), label: 'lab.gz' }, 4), {
    instanceOf: UsageError,
    message: /--samples 4 is more than the 3 images available/,
  });
});
