/** Model files are untrusted input: what a model.json names is checked before it is read, on disk and over http. */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { UsageError } from '../../src/core/errors.js';
import { loadModel } from '../../src/evaluation/load-model.js';
import { loadAnyModel, manifestGroupBytes, saveLayersModelTo } from '../../src/runtime/model-io.js';
import { createRegistry } from '../../src/core/registry.js';
import { serveLocal } from '../fixtures/local-http.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

/** A saved 784 -> 10 dense model: 7,850 float32 weights, 31,400 bytes in one weights.bin. */
async function savedModel(): Promise<{ dir: string; json: Record<string, any> }> {
  const model = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10 })] });
  const dir = await mkdtemp(join(tmpdir(), 'robench-files-'));
  await saveLayersModelTo(model, dir);
  model.dispose();
  return { dir, json: JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) };
}

async function withPaths(paths: string[]): Promise<string> {
  const { dir, json } = await savedModel();
  json.weightsManifest[0].paths = paths;
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
  return dir;
}

test('the manifest gives each group its byte count, quantised weights at their stored width', (t) => {
  t.is(manifestGroupBytes([{ name: 'k', shape: [784, 10], dtype: 'float32' }, { name: 'b', shape: [10], dtype: 'float32' }]), 31400);
  t.is(manifestGroupBytes([{ name: 'k', shape: [3, 5], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } }]), 15);
  t.is(manifestGroupBytes([{ name: 'i', shape: [2, 2], dtype: 'int32' }, { name: 'm', shape: [3], dtype: 'bool' }]), 19);
  t.is(manifestGroupBytes([{ name: 's', shape: [2], dtype: 'string' }]), undefined);
});

test('weight paths that leave the model folder are refused, relative or absolute', async (t) => {
  const { dir } = await savedModel();
  // A file the model must not be able to read: beside the model folder.
  await writeFile(join(dir, '..', 'robench-secret.bin'), Buffer.alloc(31400));
  for (const p of ['../robench-secret.bin', join(dir, '..', 'robench-secret.bin'), 'sub/../../robench-secret.bin']) {
    const model = await withPaths([p]);
    await t.throwsAsync(loadAnyModel(model), { message: /names the weights file ".*robench-secret\.bin", outside the model's folder/ }, p);
  }
});

test('a weights path naming a device or a FIFO is refused at once, not read without end or waited on', async (t) => {
  t.timeout(10_000);
  const zero = await withPaths(['zero.bin']);
  await symlink('/dev/zero', join(zero, 'zero.bin'));
  // A link out of the model's folder is refused before its target is even looked at.
  await t.throwsAsync(loadAnyModel(zero), { message: /zero\.bin named by .* is a link to \/dev\/zero, outside the model's folder/ });
  const fifo = await withPaths(['fifo.bin']);
  execFileSync('mkfifo', [join(fifo, 'fifo.bin')]);
  await t.throwsAsync(loadAnyModel(fifo), { message: /fifo\.bin is not a regular file/ });
  // model.json itself is read the same way.
  execFileSync('mkfifo', [join(fifo, 'pipe.json')]);
  await t.throwsAsync(loadAnyModel(join(fifo, 'pipe.json')), { message: /pipe\.json is not a regular file/ });
});

test('a weights file shorter or longer than the manifest says is an error naming it', async (t) => {
  const { dir } = await savedModel();
  const file = join(dir, 'weights.bin');
  const bytes = readFileSync(file);
  await writeFile(file, Buffer.concat([bytes, Buffer.alloc(4)]));
  await t.throwsAsync(loadAnyModel(dir), { message: new RegExp(`weights file ${file} is too long: 31404 bytes where 31400 are expected`) });
  await truncate(file, 31396);
  await t.throwsAsync(loadAnyModel(dir), { message: new RegExp(`weights file ${file} is too short: 31396 bytes where 31400 are expected`) });
});

test('a group split over several files loads when their sizes add up, and names them all when they do not', async (t) => {
  const dir = await withPaths(['part1.bin', 'part2.bin']);
  const bytes = readFileSync(join(dir, 'weights.bin'));
  await writeFile(join(dir, 'part1.bin'), bytes.subarray(0, 20000));
  await writeFile(join(dir, 'part2.bin'), bytes.subarray(20000));
  const loaded = await loadAnyModel(dir);
  t.is(loaded.kind, 'layers');
  loaded.model.dispose();
  await truncate(join(dir, 'part2.bin'), 11000);
  await t.throwsAsync(loadAnyModel(dir), { message: /weights files part1\.bin, part2\.bin of .* hold 31000 bytes where the manifest's 2 tensors need 31400/ });
});

/** Serves a model folder, with `override` answering some paths itself. */
async function serveModel(dir: string, override: (path: string, res: import('node:http').ServerResponse) => boolean = () => false) {
  const requests: string[] = [];
  const server = await serveLocal((req, res) => {
    requests.push((req.url ?? '/').slice(1));
    const path = (req.url ?? '/').slice(1).split('?')[0]!;
    if (override(path, res)) return;
    try {
      res.end(readFileSync(join(dir, path)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  return { server, requests };
}

test.serial('http: a 404 on the weights is reported as a 404, with the weights URL', async (t) => {
  const { dir } = await savedModel();
  const { server } = await serveModel(dir, (path, res) => {
    if (path !== 'weights.bin') return false;
    res.statusCode = 404;
    res.end('not found');
    return true;
  });
  await t.throwsAsync(loadAnyModel(`${server.url}/model.json`), { message: new RegExp(`weights file ${server.url}/weights\\.bin: HTTP 404`) });
  await server.close();
});

test.serial('http: a server that stops answering is given up on with a message', async (t) => {
  t.timeout(10_000);
  const { dir } = await savedModel();
  const { server } = await serveModel(dir, (path, res) => {
    if (path !== 'weights.bin') return false;
    // Headers and half the body, then silence.
    res.writeHead(200, { 'content-length': '31400' });
    res.write(Buffer.alloc(15700));
    return true;
  });
  const started = Date.now();
  await t.throwsAsync(loadAnyModel(`${server.url}/model.json`, { timeoutMs: 300 }), { message: /weights\.bin: the server sent nothing for 0\.3 s/ });
  t.true(Date.now() - started < 5000);
  await server.close();
});

test.serial('http: a body longer than the manifest allows is cut off and refused', async (t) => {
  const { dir } = await savedModel();
  let sent = 0;
  const { server } = await serveModel(dir, (path, res) => {
    if (path !== 'weights.bin') return false;
    // No content-length: the body streams until the client hangs up.
    const more = () => {
      while (sent < 50_000_000 && res.write(Buffer.alloc(65536))) sent += 65536;
      if (sent < 50_000_000) res.once('drain', more);
      else res.end();
    };
    more();
    return true;
  });
  await t.throwsAsync(loadAnyModel(`${server.url}/model.json`), { message: /weights\.bin is too long: \d+\+ bytes where 31400 are expected/ });
  t.true(sent < 50_000_000, `the client stopped reading after ${sent} bytes, not at the end of the body`);
  await server.close();
});

test.serial('http: weights of the right size load, with the same sha256 as on disk', async (t) => {
  const { dir } = await savedModel();
  const { server, requests } = await serveModel(dir);
  const remote = await loadAnyModel(`${server.url}/model.json?sig=abc`);
  const local = await loadAnyModel(dir);
  t.is(remote.weightsSha256, local.weightsSha256);
  // The signed URL's query string goes with the weights request too.
  t.deepEqual(requests, ['model.json?sig=abc', 'weights.bin?sig=abc']);
  remote.model.dispose();
  local.model.dispose();
  await server.close();
});

test.serial('--offline refuses a model URL before contacting the server', async (t) => {
  const { dir } = await savedModel();
  const { server, requests } = await serveModel(dir);
  const registry = await createRegistry({ cwd: tmpdir() });
  const err = await t.throwsAsync(loadModel(registry, { model: `${server.url}/model.json`, dataset: 'mnist', inputRange: '0,1', offline: true }), {
    instanceOf: UsageError,
    message: /--offline forbids downloading the model at http:\/\/127\.0\.0\.1/,
  });
  t.regex(err!.hint!, /into a folder and pass that folder, or drop --offline/);
  t.deepEqual(requests, []);
  await server.close();
});
