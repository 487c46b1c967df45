import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { RobenchError } from '../../src/core/errors.js';
import { downloadVerified } from '../../src/data/download.js';
import { fetchFiles } from '../../src/data/files.js';
import type { DatasetManifest } from '../../src/data/manifests.js';
import type { ProgressSink } from '../../src/data/progress.js';
import { openSplit } from '../../src/data/split.js';
import { serveLocal, type LocalServer } from '../fixtures/local-http.js';
import { makeTar } from '../fixtures/tar-writer.js';

// ROBENCH_DATA overrides the data dirs these tests pass.
delete process.env.ROBENCH_DATA;

const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 131 + (i >> 9)) % 256));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const tmp = () => mkdtempSync(join(tmpdir(), 'robench-dl-'));

let server: LocalServer;
const requests: string[] = [];
const files = new Map<string, Buffer>();

test.before(async () => {
  server = await serveLocal((req, res) => {
    requests.push(req.url!);
    const path = req.url!;
    if (path === '/good') {
      res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
    } else if (path === '/chunked') {
      res.writeHead(200);
      res.write(BODY.subarray(0, 1000));
      res.end(BODY.subarray(1000));
    } else if (path === '/corrupt') {
      const bad = Buffer.from(BODY);
      bad[12345] ^= 1;
      res.writeHead(200, { 'content-length': bad.length }).end(bad);
    } else if (path === '/truncated') {
      // The length promises the whole body; the server closes the connection cleanly after half.
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 100_000), () => res.socket!.end());
    } else if (path === '/interrupted') {
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 50_000), () => res.socket!.destroy());
    } else if (files.has(path)) {
      res.writeHead(200, { 'content-length': files.get(path)!.length }).end(files.get(path));
    } else {
      res.writeHead(404).end('not here');
    }
  });
});
test.after.always(() => server.close());

const spec = (dir: string, path: string) => ({ url: server.url + path, dest: join(dir, 'data.bin'), sha256: sha256(BODY) });

test('a good download is verified and renamed into place, reporting progress', async (t) => {
  const dir = tmp();
  const seen: number[] = [];
  let finished = '';
  const progress: ProgressSink = { update: (r, total) => { seen.push(r); t.is(total, BODY.length); }, finish: (ok, msg) => (finished = `${ok} ${msg}`) };
  const got = await downloadVerified(spec(dir, '/good'), progress);
  t.is(got.sha256, sha256(BODY));
  t.is(got.md5, md5(BODY));
  t.deepEqual(readFileSync(join(dir, 'data.bin')), BODY);
  t.deepEqual(readdirSync(dir), ['data.bin'], 'no temporary file is left');
  t.is(seen.at(-1), BODY.length);
  t.regex(finished, /^true .*verified/);
});

test('a download without content-length is checked by md5 alone', async (t) => {
  const dir = tmp();
  await downloadVerified({ url: `${server.url}/chunked`, dest: join(dir, 'c.bin'), md5: md5(BODY) });
  t.deepEqual(readFileSync(join(dir, 'c.bin')), BODY);
});

const failsCleanly = async (t: any, path: string, pattern: RegExp) => {
  const dir = tmp();
  let finishedOk: boolean | undefined;
  await t.throwsAsync(downloadVerified(spec(dir, path), { update: () => undefined, finish: (ok) => (finishedOk = ok) }), { instanceOf: RobenchError, message: pattern });
  t.deepEqual(readdirSync(dir), [], 'neither the final file nor a temporary one is left');
  t.false(existsSync(join(dir, 'data.bin')));
  t.is(finishedOk, false);
};

test('a checksum mismatch is an error and leaves no file', (t) => failsCleanly(t, '/corrupt', /\/corrupt is corrupt: its sha256 is [0-9a-f]{64}, the original's is/));
test('a body shorter than its content-length is an error and leaves no file', (t) => failsCleanly(t, '/truncated', /\/truncated (is truncated: got \d+ of 200000|was interrupted after \d+ of 200000 bytes)/));
test('a connection destroyed mid-body is an error and leaves no file', (t) => failsCleanly(t, '/interrupted', /\/interrupted (was interrupted after \d+ of 200000 bytes|is truncated)/));
test('an HTTP error status is an error and leaves no file', (t) => failsCleanly(t, '/missing', /could not download .*\/missing: HTTP 404/));

test('a refused connection is an error naming the address', async (t) => {
  const dir = tmp();
  await t.throwsAsync(downloadVerified({ url: 'http://127.0.0.1:9/x', dest: join(dir, 'x'), md5: md5(BODY) }), { instanceOf: RobenchError, message: /could not download http:\/\/127\.0\.0\.1:9\/x/ });
  t.deepEqual(readdirSync(dir), []);
});

function idxLikeManifest(prefix: string): DatasetManifest {
  const a = Buffer.from(`${prefix}-train`);
  const b = Buffer.from(`${prefix}-test`);
  files.set(`/${prefix}/a.gz`, a);
  files.set(`/${prefix}/b.gz`, b);
  return {
    id: prefix,
    folder: prefix,
    homepage: 'test',
    files: [
      { name: 'a.gz', url: `${server.url}/${prefix}/a.gz`, sha256: sha256(a) },
      { name: 'b.gz', url: `${server.url}/${prefix}/b.gz`, md5: md5(b) },
    ],
    split: { train: ['a.gz'], test: ['b.gz'] },
  };
}

test('fetchFiles downloads only missing or corrupt files', async (t) => {
  const m = idxLikeManifest('direct');
  const dataDir = tmp();
  await fetchFiles(dataDir, m, ['a.gz', 'b.gz'], { progress: false });
  t.is(readFileSync(join(dataDir, 'direct', 'b.gz'), 'utf8'), 'direct-test');
  const before = requests.length;
  await fetchFiles(dataDir, m, ['a.gz', 'b.gz'], { progress: false });
  t.is(requests.length, before, 'verified files are not downloaded again');
  writeFileSync(join(dataDir, 'direct', 'a.gz'), 'direct-trai');
  await fetchFiles(dataDir, m, ['a.gz', 'b.gz'], { progress: false });
  t.deepEqual(requests.slice(before), ['/direct/a.gz'], 'only the corrupt file is fetched again');
  t.is(readFileSync(join(dataDir, 'direct', 'a.gz'), 'utf8'), 'direct-train');
});

test('a split whose files are missing is downloaded when not offline', async (t) => {
  const m = idxLikeManifest('onload');
  const dataDir = tmp();
  const split = await openSplit(m, { split: 'train', dataDir });
  t.is(split.source.kind, 'file');
  t.is(split.source.path, join(dataDir, 'onload', 'a.gz'));
  t.is(Buffer.from(split.bytes.get('a.gz')!).toString(), 'onload-train');
});

test('an archive download is verified, extracted, its members verified, and the archive removed', async (t) => {
  const members = { 'batches/one.bin': Buffer.from('first batch'), 'batches/two.bin': Buffer.from('second batch') };
  const tgz = gzipSync(makeTar([{ name: 'batches', type: '5' }, ...Object.entries(members).map(([name, data]) => ({ name, data }))]));
  files.set('/archive.tgz', tgz);
  const m: DatasetManifest = {
    id: 'arch',
    folder: 'arch',
    homepage: 'test',
    files: Object.entries(members).map(([name, data]) => ({ name, sha256: sha256(data) })),
    archive: { name: 'archive.tgz', url: `${server.url}/archive.tgz`, md5: md5(tgz) },
    split: { train: ['batches/one.bin'], test: ['batches/two.bin'] },
  };
  const dataDir = tmp();
  await fetchFiles(dataDir, m, m.files.map((f) => f.name), { progress: false });
  t.is(readFileSync(join(dataDir, 'arch', 'batches', 'two.bin'), 'utf8'), 'second batch');
  t.false(existsSync(join(dataDir, 'arch', 'archive.tgz')));
  t.deepEqual(readdirSync(join(dataDir, 'arch')).sort(), ['batches']);
});

test('an unwritable destination is an error that says to choose another data dir', async (t) => {
  const dir = tmp();
  writeFileSync(join(dir, 'file'), 'x');
  const e = await t.throwsAsync(downloadVerified({ url: `${server.url}/good`, dest: join(dir, 'file', 'data.bin'), sha256: sha256(BODY) }), { instanceOf: RobenchError, message: /cannot write .*file\/data\.bin/ });
  t.regex((e as RobenchError).hint!, /--data-dir or ROBENCH_DATA/);
});
