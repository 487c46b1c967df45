import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { RobenchError } from '../../src/core/errors.js';
import { cifarRecordCount, decodeCifarRecords } from '../../src/data/cifar-records.js';
import { decodeCifarBatches } from '../../src/data/cifar-loader.js';
import { gunzipFile } from '../../src/data/gzip.js';
import type { DatasetManifest } from '../../src/data/manifests.js';
import { openSplit } from '../../src/data/split.js';
import { extractTar, findTarMember, parseTar } from '../../src/data/tar.js';
import { makeTar } from '../fixtures/tar-writer.js';

// ROBENCH_DATA overrides the data dirs these tests pass.
delete process.env.ROBENCH_DATA;

/** Distinct per (record, channel, pixel): a reader that mixes up planes or order gets other values. */
const value = (n: number, ch: number, p: number) => (n * 31 + ch * 85 + p * 7 + (p >> 5)) % 256;

function batch(labels: number[]): Buffer {
  const b = Buffer.alloc(labels.length * 3073);
  labels.forEach((y, n) => {
    b[n * 3073] = y;
    for (let ch = 0; ch < 3; ch++) for (let p = 0; p < 1024; p++) b[n * 3073 + 1 + ch * 1024 + p] = value(n, ch, p);
  });
  return b;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'robench-cifar-'));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

test('CIFAR records decode to NHWC: label byte, then the R, G and B planes', (t) => {
  const buf = batch([3, 9, 0]);
  const images = new Float32Array(4 * 3072);
  const labels = new Int32Array(4);
  decodeCifarRecords(buf, 'b.bin', 3, images, labels, 1);
  t.deepEqual([...labels], [0, 3, 9, 0]);
  for (const [n, r, c, ch] of [[0, 0, 0, 0], [0, 0, 1, 1], [1, 31, 2, 2], [2, 4, 30, 0], [2, 31, 31, 2]] as const) {
    t.is(images[((1 + n) * 1024 + r * 32 + c) * 3 + ch], Math.fround(value(n, ch, r * 32 + c) / 255), `record ${n} (${r}, ${c}) channel ${ch}`);
  }
  t.is(images[0], 0, 'position 0 of the output was not written');
  const d = decodeCifarBatches([{ bytes: batch([1, 2]), label: 'a', records: 2 }, { bytes: batch([5, 6]), label: 'b', records: 2 }], 3);
  t.deepEqual([...d.labels], [1, 2, 5]);
  t.is(d.images[(2 * 1024 + 33) * 3 + 1], Math.fround(value(0, 1, 33) / 255), 'the third image is the first of the second batch');
});

test('CIFAR batch sizes and labels are checked', (t) => {
  const buf = batch([1, 2]);
  t.is(cifarRecordCount(buf, 'b.bin', 2), 2);
  t.throws(() => cifarRecordCount(buf.subarray(0, buf.length - 1), 'b.bin'), { instanceOf: RobenchError, message: /^b\.bin: wrong size: 6145 bytes is not a whole number/ });
  t.throws(() => cifarRecordCount(buf, 'b.bin', 10000), { message: /^b\.bin: wrong size: 2 records, expected 10000/ });
  const badLabel = batch([1, 12]);
  t.throws(() => decodeCifarRecords(badLabel, 'b.bin', 2, new Float32Array(2 * 3072), new Int32Array(2), 0), { message: /^b\.bin: record 1 has label 12/ });
});

const MEMBERS = { 'cifar-10-batches-bin/data_batch_1.bin': batch([4, 5]), 'cifar-10-batches-bin/test_batch.bin': batch([7, 8, 9]) };

test('a gzip\'d tar written by the system tar parses, members found by name', (t) => {
  const dir = tmp();
  mkdirSync(join(dir, 'cifar-10-batches-bin'));
  for (const [name, data] of Object.entries(MEMBERS)) writeFileSync(join(dir, name), data);
  let tgz: Buffer;
  try {
    tgz = execFileSync('tar', ['-czf', '-', '-C', dir, 'cifar-10-batches-bin']);
  } catch {
    t.log('no system tar: checking the hand-written archive only');
    tgz = gzipSync(makeTar(Object.entries(MEMBERS).map(([name, data]) => ({ name, data }))));
  }
  const entries = parseTar(gunzipFile(tgz, 'x.tgz'), 'x.tgz');
  t.true(entries.some((e) => e.type === 'directory' && e.name.replace(/\/$/, '') === 'cifar-10-batches-bin'));
  for (const [name, data] of Object.entries(MEMBERS)) t.deepEqual(Buffer.from(findTarMember(entries, name)!.data), data);
  t.is(findTarMember(entries, 'cifar-10-batches-bin/nope.bin'), undefined);
});

test('tar names: ustar prefix, GNU long names, pax paths and "../" prefixes', (t) => {
  const long = `${'d'.repeat(120)}/file.bin`;
  t.is(parseTar(makeTar([{ prefix: 'd'.repeat(120), name: 'file.bin', data: Buffer.from('u') }]), 'u.tar')[0]!.name, long);
  const gnu = makeTar([{ name: '././@LongLink', type: 'L', data: Buffer.from(`${long}\0`) }, { name: 'short', data: Buffer.from('g') }]);
  t.is(parseTar(gnu, 'g.tar')[0]!.name, long);
  // A pax record is "<length> path=<value>\n" where the length counts itself.
  const record = `path=${long}\n`;
  const paxRecord = `${record.length + 4} ${record}`;
  t.is(paxRecord.length, record.length + 4);
  const pax = makeTar([{ name: 'PaxHeader', type: 'x', data: Buffer.from(paxRecord) }, { name: 'short', data: Buffer.from('p') }]);
  const [entry] = parseTar(pax, 'p.tar');
  t.is(entry!.name, long);
  t.is(Buffer.from(entry!.data).toString(), 'p');
  const dot = makeTar([{ name: './cifar-10-batches-bin/test_batch.bin', data: Buffer.from('x') }]);
  t.deepEqual(Buffer.from(findTarMember(parseTar(dot, 'd.tar'), 'cifar-10-batches-bin/test_batch.bin')!.data), Buffer.from('x'));
});

test('corrupt tar archives: bad header checksum, truncated entry, missing end block', (t) => {
  const good = makeTar([{ name: 'a.bin', data: Buffer.alloc(1000, 7) }]);
  t.is(parseTar(good, 'a.tar')[0]!.size, 1000);
  const flipped = Buffer.from(good);
  flipped[10] ^= 0xff;
  t.throws(() => parseTar(flipped, 'a.tar'), { instanceOf: RobenchError, message: /^a\.tar: bad tar header checksum at byte 0/ });
  t.throws(() => parseTar(good.subarray(0, 900), 'a.tar'), { message: /^a\.tar: truncated: entry at byte 0 declares 1000 bytes but only 388 remain/ });
  t.throws(() => parseTar(good.subarray(0, 1536), 'a.tar'), { message: /^a\.tar: truncated: the archive ends at byte 1536 without an end-of-archive block/ });
  t.throws(() => parseTar(Buffer.alloc(100), 'a.tar'), { message: /truncated/ });
});

test('extractTar writes files inside the target and refuses entries that escape it, writing nothing', async (t) => {
  const target = join(tmp(), 'out');
  const files = await extractTar(makeTar([{ name: 'sub', type: '5' }, { name: 'sub/a.bin', data: Buffer.from('hello') }]), 'ok.tar', target);
  t.deepEqual(files, [join(target, 'sub', 'a.bin')]);
  t.is(readFileSync(join(target, 'sub', 'a.bin'), 'utf8'), 'hello');
  const hostile: [string, Parameters<typeof makeTar>[0][number], RegExp][] = [
    ['dot-dot', { name: '../evil.bin', data: Buffer.from('x') }, /climbs out/],
    ['nested dot-dot', { name: 'sub/../../evil.bin', data: Buffer.from('x') }, /climbs out/],
    ['absolute', { name: '/tmp/robench-evil.bin', data: Buffer.from('x') }, /absolute path/],
    ['symlink', { name: 'link', type: '2', linkname: '/etc/passwd' }, /is a link \(to "\/etc\/passwd"\)/],
    ['hard link', { name: 'hard', type: '1', linkname: '../outside' }, /is a link/],
  ];
  for (const [what, entry, pattern] of hostile) {
    const dest = join(tmp(), 'out');
    const archive = makeTar([{ name: 'first.bin', data: Buffer.from('a') }, entry]);
    await t.throwsAsync(extractTar(archive, 'evil.tar', dest), { instanceOf: RobenchError, message: pattern }, what);
    t.false(existsSync(dest), `${what}: nothing was written`);
  }
  t.false(existsSync('/tmp/robench-evil.bin'));
});

/** A manifest for generated batches, so the real loading path runs on small files. */
function testManifest(): { m: DatasetManifest; tgz: Buffer } {
  const files = Object.entries(MEMBERS).map(([name, data]) => ({ name, sha256: sha256(data) }));
  const tgz = gzipSync(makeTar(Object.entries(MEMBERS).map(([name, data]) => ({ name, data }))));
  const m: DatasetManifest = {
    id: 'cifar-test',
    folder: 'cifar-test',
    homepage: 'test',
    files,
    archive: { name: 'cifar-test.tar.gz', url: 'http://127.0.0.1:9/none', md5: md5(tgz) },
    split: { train: ['cifar-10-batches-bin/data_batch_1.bin'], test: ['cifar-10-batches-bin/test_batch.bin'] },
  };
  return { m, tgz };
}

test('a split reads straight from the tarball when the batches are not extracted, and from the batches when they are', async (t) => {
  const { m, tgz } = testManifest();
  const dataDir = tmp();
  mkdirSync(join(dataDir, m.folder));
  writeFileSync(join(dataDir, m.folder, m.archive!.name), tgz);
  const fromTar = await openSplit(m, { split: 'test', dataDir, offline: true });
  t.is(fromTar.source.kind, 'file');
  t.is(fromTar.source.path, join(dataDir, m.folder, m.archive!.name));
  t.is(fromTar.source.sha256, sha256(tgz));
  t.deepEqual(Buffer.from(fromTar.bytes.get(m.split.test[0]!)!), MEMBERS['cifar-10-batches-bin/test_batch.bin']);

  await extractTar(gunzipFile(tgz, 'x'), 'x', join(dataDir, m.folder));
  const extracted = await openSplit(m, { split: 'train', dataDir, offline: true });
  t.is(extracted.source.path, join(dataDir, m.folder, 'cifar-10-batches-bin', 'data_batch_1.bin'));
  t.is(extracted.source.sha256, sha256(MEMBERS['cifar-10-batches-bin/data_batch_1.bin']));
});

test('a tarball or batch that is not the original is refused by checksum, and missing files name where to put them', async (t) => {
  const { m } = testManifest();
  const dataDir = tmp();
  mkdirSync(join(dataDir, m.folder, 'cifar-10-batches-bin'), { recursive: true });
  const e = await t.throwsAsync(openSplit(m, { split: 'test', dataDir, offline: true }), { instanceOf: RobenchError });
  t.regex(e!.message, /cifar-test: the test split needs the original files \(no subset of cifar-test ships with robench\) and offline mode forbids downloading them: cifar-10-batches-bin\/test_batch\.bin not found in .*cifar-test/);
  t.regex((e as RobenchError).hint!, /cifar-test\.tar\.gz from http:\/\/127\.0\.0\.1:9\/none .*robench data fetch cifar-test/);
  writeFileSync(join(dataDir, m.folder, 'cifar-10-batches-bin', 'test_batch.bin'), batch([7, 8]));
  await t.throwsAsync(openSplit(m, { split: 'test', dataDir, offline: true }), { message: /test_batch\.bin is not the original cifar-test file: its sha256 is/ });
  const other = tmp();
  mkdirSync(join(other, m.folder));
  writeFileSync(join(other, m.folder, m.archive!.name), gzipSync(makeTar([{ name: 'x', data: Buffer.from('x') }])));
  await t.throwsAsync(openSplit(m, { split: 'test', dataDir: other, offline: true }), { message: /cifar-test\.tar\.gz is not the original cifar-test file: its md5 is/ });
  t.deepEqual(readdirSync(join(other, m.folder)), [m.archive!.name]);
});
