import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { robench } from '../helpers/cli.js';

/** tfjs's banner, Dawn's limit warnings and the Vulkan loader's, none of them robench's. */
const NOISE = /Hi, looks like you are running TensorFlow\.js|artificially reduced|vulkan|loader/i;

// 'auto' (the default) is the case that probes WebGPU: with lavapipe installed, Dawn starts and warns.
for (const backend of ['auto', 'wasm', 'cpu']) {
  test(`robench run --backend ${backend} prints no third-party warnings`, async (t) => {
    const out = join(mkdtempSync(join(tmpdir(), 'robench-quiet-')), 'run');
    const r = await robench(['run', '--model', 'baseline', '--dataset', 'mnist', '--attack', 'fgsm', '--samples', '4', '--eps', '0,0.1', '--offline', '--format', 'json', '--backend', backend, '--out', out]);
    t.is(r.code, 0, r.stderr);
    t.notRegex(r.stderr + r.stdout, NOISE);
    t.regex(r.stderr, /done: baseline under fgsm/);
  });
}
