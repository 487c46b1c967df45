/**
 * .npy files and `robench attack`: what the command writes is bit-equal to attack()'s examples
 * in memory for the same settings, numpy.load reads it as float32 NHWC in [0, 1] (where python3
 * has numpy), and the reader refuses what it cannot read with the file's name.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/data/npy.js';
import { UsageError } from '../../src/core/errors.js';
import { attack } from '../../src/evaluation/attack-api.js';
import { robench, robenchOk, saveDenseModel } from '../helpers/cli.js';
import { testBackend } from '../helpers/backend.js';

const hasNumpy = (() => {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const python = (code: string): string => execFileSync('python3', ['-c', code], { encoding: 'utf8' });

/** Seeded images in [0, 1] and labels 0..9. */
function inputs(n: number): { pixels: Float32Array; labels: Int32Array } {
  const pixels = Float32Array.from({ length: n * 16 }, (_, i) => 0.5 + 0.45 * Math.sin(i * 12.9898));
  const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % 10);
  return { pixels, labels };
}

test('encodeNpy gives numpy\'s v1.0 layout (64-byte aligned header) and decodeNpy reads it back bit-equal', (t) => {
  const data = Float32Array.from([0, 1, 0.1, 1 / 3, -0, 2 ** -140]);
  const bytes = encodeNpy(data, [1, 2, 3, 1]);
  t.is(new TextDecoder().decode(bytes.subarray(1, 6)), 'NUMPY');
  const headerLength = bytes[8]! + 256 * bytes[9]!;
  t.is((10 + headerLength) % 64, 0);
  t.regex(new TextDecoder().decode(bytes.subarray(10, 10 + headerLength)), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(1, 2, 3, 1\), \} *\n$/);
  const back = decodeNpy(bytes, 'x.npy');
  t.deepEqual(back.shape, [1, 2, 3, 1]);
  t.is(back.dtype, 'float32');
  t.deepEqual(new Uint8Array((back.data as Float32Array).buffer), new Uint8Array(data.buffer));
  t.deepEqual(decodeNpy(encodeNpy(Int32Array.from([3, 1, 4]), [3]), 'y.npy'), { dtype: 'int32', shape: [3], data: Int32Array.from([3, 1, 4]) });
  t.regex(new TextDecoder().decode(encodeNpy(Int32Array.from([3]), [1]).subarray(10, 80)), /'shape': \(1,\)/);
});

test('decodeNpy refuses truncated files, Fortran order, big-endian and non-numbers, naming the file', (t) => {
  const good = encodeNpy(Float32Array.from([1, 2, 3, 4]), [4]);
  const headerOf = (dict: string): Uint8Array => {
    const pad = ' '.repeat((64 - ((11 + dict.length) % 64)) % 64);
    const header = `${dict}${pad}\n`;
    const out = new Uint8Array(10 + header.length + 16);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 255, header.length >> 8]);
    for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
    return out;
  };
  const cases: [Uint8Array, RegExp][] = [
    [good.subarray(0, good.length - 1), /a\.npy .*needs 16 bytes of data, the file holds 15/],
    [new Uint8Array(20), /a\.npy .*magic/],
    [headerOf("{'descr': '<f4', 'fortran_order': True, 'shape': (4,), }"), /Fortran order/],
    [headerOf("{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }"), /of type '>f4'/],
    [headerOf("{'descr': '|O', 'fortran_order': False, 'shape': (4,), }"), /of type '\|O'/],
  ];
  for (const [bytes, pattern] of cases) {
    const err = t.throws(() => decodeNpy(bytes, 'a.npy'), { instanceOf: UsageError });
    t.regex(err!.message, pattern);
  }
  // int64 labels (numpy's default integer) are read as numbers.
  const i64 = headerOf("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }");
  new DataView(i64.buffer).setBigInt64(i64.length - 16, 7n, true);
  new DataView(i64.buffer).setBigInt64(i64.length - 8, 2n, true);
  t.deepEqual(decodeNpy(i64, 'y.npy').data, [7, 2]);
});

test.serial('robench attack writes, bit for bit, the examples attack() returns in memory; numpy.load reads them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-attack-'));
  const modelPath = await saveDenseModel(join(dir, 'model'), [4, 4, 1], { seed: 4 });
  const n = 12;
  const { pixels, labels } = inputs(n);
  if (hasNumpy) {
    // Inputs as numpy itself writes them: float32 images, int64 labels.
    writeFileSync(join(dir, 'raw.json'), JSON.stringify({ pixels: Array.from(pixels), labels: Array.from(labels) }));
    python(`import json, numpy as np; d = json.load(open(${JSON.stringify(join(dir, 'raw.json'))})); np.save(${JSON.stringify(join(dir, 'x.npy'))}, np.array(d['pixels'], dtype=np.float32).reshape(${n}, 4, 4, 1)); np.save(${JSON.stringify(join(dir, 'y.npy'))}, np.array(d['labels'], dtype=np.int64))`);
  } else {
    await writeNpy(join(dir, 'x.npy'), pixels, [n, 4, 4, 1]);
    await writeNpy(join(dir, 'y.npy'), labels, [n]);
  }
  const out = join(dir, 'adv.npy');
  const stdout = await robenchOk(['attack', '--model', modelPath, '--input', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--attack', 'pgd', '--eps', '8/255', '--steps', '7', '--seed', '9', '--batch', '5', '--backend', testBackend, '--out', out]);
  t.regex(stdout, /pgd at eps 0\.03137\d* \(linf\): the model misclassifies \d+ of 12/);
  t.regex(stdout, /wrote .*adv\.npy: float32 \[12, 4, 4, 1\]/);
  const x = tf.tensor4d(pixels, [n, 4, 4, 1]);
  const result = await attack({ model: modelPath, x, y: labels, attack: 'pgd', eps: 8 / 255, params: { steps: 7 }, seed: 9, batch: 12, backend: testBackend });
  const written = await readNpy(out);
  t.deepEqual(written.shape, [n, 4, 4, 1]);
  t.is(written.dtype, 'float32');
  const inMemory = await result.budgets[0]!.x.data();
  t.deepEqual(new Uint8Array((written.data as Float32Array).buffer), new Uint8Array(Float32Array.from(inMemory).buffer), 'bit-equal');
  t.true(result.budgets[0]!.success.some((s) => s === 1) && result.budgets[0]!.norms.some((v) => v > 0), 'the examples are perturbed');
  result.dispose();
  x.dispose();
  if (!hasNumpy) {
    t.log('python3 with numpy is not installed here: the numpy.load check is skipped (CI installs python3-numpy)');
    return;
  }
  const seen = JSON.parse(python(`import json, numpy as np; a = np.load(${JSON.stringify(out)}); print(json.dumps({'shape': list(a.shape), 'dtype': str(a.dtype), 'min': float(a.min()), 'max': float(a.max()), 'first': [float(v) for v in a.reshape(-1)[:5]]}))`)) as { shape: number[]; dtype: string; min: number; max: number; first: number[] };
  t.deepEqual(seen.shape, [n, 4, 4, 1]);
  t.is(seen.dtype, 'float32');
  t.true(seen.min >= 0 && seen.max <= 1, `range [${seen.min}, ${seen.max}]`);
  t.deepEqual(seen.first, Array.from(inMemory.slice(0, 5)));
});

test.serial('robench attack: several budgets, a missing file and a foreign flag are usage errors (exit 2) naming what is wrong', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'robench-attack-'));
  const { pixels, labels } = inputs(3);
  await writeNpy(join(dir, 'x.npy'), pixels, [3, 4, 4, 1]);
  await writeNpy(join(dir, 'y.npy'), labels, [3]);
  const base = ['attack', '--model', 'baseline', '--input', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--out', join(dir, 'adv.npy'), '--backend', testBackend];
  const two = await robench([...base, '--eps', '0.1,0.2']);
  t.is(two.code, 2);
  t.regex(two.stderr, /--eps '0\.1,0\.2' names 2 budgets/);
  const missing = await robench([...base.slice(0, 3), '--input', join(dir, 'nope.npy'), ...base.slice(5)]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /nope\.npy: no such file/);
  const foreign = await robench([...base, '--targets', '3']);
  t.is(foreign.code, 2);
  t.regex(foreign.stderr, /--targets is not an option of the attack 'pgd'/);
  const shape = await robench([...base, '--eps', '0.1']);
  t.is(shape.code, 2);
  t.regex(shape.stderr, /takes \[\d+,\d+,\d+\] images but attack\(\) got x of shape \[3,4,4,1\]/);
  t.false(readFileSync(join(dir, 'x.npy')).length === 0);
});
