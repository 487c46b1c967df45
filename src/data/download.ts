/**
 * Verified downloads: the body streams into a temporary file next to the target,
 * hashed on the way, and is renamed to the final name only after the length and
 * checksums match. An interrupted or corrupt download never leaves a file under
 * the final name, and a signal removes the temporary one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RobenchError } from '../core/errors.js';
import { checksumProblem, DigestStream, type Digests } from './checksum.js';
import { trackPartial } from './partial-downloads.js';
import { formatBytes, type ProgressSink } from './progress.js';

export interface DownloadSpec {
  url: string;
  dest: string;
  md5?: string;
  sha256?: string;
  bytes?: number;
}

const describe = (e: unknown): string => {
  const err = e as Error & { cause?: Error };
  return err.cause?.message ? `${err.message}: ${err.cause.message}` : String(err.message ?? e);
};

async function request(url: string): Promise<Response & { body: ReadableStream<Uint8Array> }> {
  const retry = 'Check the network connection and run the command again.';
  let res: Response;
  try {
    // Ask for the stored bytes: a decoded body would not match the published checksums.
    res = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
  } catch (e) {
    throw new RobenchError(`could not download ${url} (${describe(e)})`, retry);
  }
  if (!res.ok || !res.body) throw new RobenchError(`could not download ${url}: HTTP ${res.status} ${res.statusText}`, retry);
  return res as Response & { body: ReadableStream<Uint8Array> };
}

/** Streams the body into `out`, hashing it; returns the byte count and digests. */
async function receive(url: string, body: ReadableStream<Uint8Array>, out: FileHandle, total: number | undefined, progress?: ProgressSink) {
  const digests = new DigestStream();
  const reader = body.getReader();
  let received = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      const of = total ? ` of ${total}` : '';
      throw new RobenchError(`download of ${url} was interrupted after ${received}${of} bytes (${describe(e)})`, 'Run the command again.');
    }
    if (chunk.done) return { received, digests: digests.digest() };
    digests.update(chunk.value);
    await out.write(chunk.value);
    received += chunk.value.length;
    progress?.update(received, total);
  }
}

export async function downloadVerified(spec: DownloadSpec, progress?: ProgressSink): Promise<Digests> {
  if (!spec.md5 && !spec.sha256) throw new Error(`downloadVerified: no checksum for ${spec.url}`);
  const tmp = `${spec.dest}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
  const out = await mkdir(dirname(spec.dest), { recursive: true })
    .then(() => open(tmp, 'wx'))
    .catch((e: Error) => {
      throw new RobenchError(`cannot write ${spec.dest} (${e.message})`, 'Point --data-dir or ROBENCH_DATA at a writable folder.');
    });
  const partial = trackPartial(tmp, spec.url);
  try {
    let got: { received: number; digests: Digests };
    try {
      const res = await request(spec.url);
      const length = Number(res.headers.get('content-length'));
      const total = Number.isFinite(length) && length > 0 ? length : spec.bytes;
      got = await receive(spec.url, res.body, out, total, progress);
      if (total !== undefined && got.received !== total) {
        throw new RobenchError(`download of ${spec.url} is truncated: got ${got.received} of ${total} bytes`, 'Run the command again.');
      }
    } finally {
      await out.close();
    }
    const problem = checksumProblem(spec, got.digests, got.received);
    if (problem) {
      throw new RobenchError(
        `download of ${spec.url} is corrupt: ${problem}`,
        'The server sent something other than the original file; try again later or fetch it by hand.',
      );
    }
    await rename(tmp, spec.dest);
    progress?.finish(true, `${formatBytes(got.received)}, verified`);
    return got.digests;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    progress?.finish(false, e instanceof Error ? e.message : String(e));
    throw e;
  } finally {
    partial.settled();
  }
}
