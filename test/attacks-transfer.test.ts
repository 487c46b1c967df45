import test from 'ava';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../src/plugin-api.js';
import { robench, robenchOk } from './helpers/cli.js';

test('transfer from the shipped baseline lowers the hebbian model\'s accuracy, less than white-box PGD, without touching its gradients', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'robench-transfer-'));
  try {
    await robenchOk(['run', '--model', 'hebbian', '--dataset', 'fashion-mnist', '--attack', 'transfer,pgd', '--eps', '0,0.1', '--steps', '10', '--samples', '100', '--backend', 'wasm', '--workers', '1', '--format', 'json', '--offline', '--out', out]);
    const runs = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResult[];
    const transfer = runs.find((r) => r.attack.id === 'transfer')!;
    const whiteBox = runs.find((r) => r.attack.id === 'pgd')!;
    t.like(transfer.attack.params, { 'source-model': 'baseline', inner: 'pgd', steps: 10 });
    t.is(transfer.gradientEvaluations, 0, 'the target model is only queried');
    const [clean, attacked] = transfer.points.map((p) => p.accuracy);
    t.true(attacked < clean - 0.1, `transfer: ${clean} -> ${attacked}`);
    t.true(whiteBox.points[1].accuracy <= attacked, `white-box ${whiteBox.points[1].accuracy} vs transfer ${attacked}`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('a transfer source that is not a white-box norm-ball attack is a usage error', async (t) => {
  const r = await robench(['run', '--model', 'hebbian', '--attack', 'transfer', '--inner', 'gaussian', '--samples', '10', '--backend', 'cpu', '--format', 'json', '--out', join(tmpdir(), 'robench-never')]);
  t.is(r.code, 2);
  t.regex(r.stderr, /--inner gaussian is not a white-box norm-ball attack/);
});
