/**
 * Verified downloads: the body streams into a temporary file next to the target,
 * hashed on the way, and is renamed to the final name only after the length and
 * checksums match. An interrupted or corrupt download never leaves a file under
 * the final name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RobenchError } from '../errors.js';
import { checksumProblem, DigestStream, type Digests } from './checksum.js';
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

export async function downloadVerified(spec: DownloadSpec, progress?: ProgressSink): Promise<Digests> {
  if (!spec.md5 && !spec.sha256) throw new Error(`downloadVerified: no checksum for ${spec.url}`);
  const retry = 'Check the network connection and run the command again.';
  await mkdir(dirname(spec.dest), { recursive: true });
  const tmp = `${spec.dest}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
  let received = 0;
  let total: number | undefined;
  try {
    let res: Response;
    try {
      // Ask for the stored bytes: a decoded body would not match the published checksums.
      res = await fetch(spec.url, { headers: { 'accept-encoding': 'identity' } });
    } catch (e) {
      throw new RobenchError(`could not download ${spec.url} (${describe(e)})`, retry);
    }
    if (!res.ok || !res.body) {
      throw new RobenchError(`could not download ${spec.url}: HTTP ${res.status} ${res.statusText}`, retry);
    }
    const length = Number(res.headers.get('content-length'));
    total = Number.isFinite(length) && length > 0 ? length : spec.bytes;
    const digests = new DigestStream();
    const out = await open(tmp, 'wx');
    try {
      const reader = res.body.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          const of = total ? ` of ${total}` : '';
          throw new RobenchError(`download of ${spec.url} was interrupted after ${received}${of} bytes (${describe(e)})`, retry);
        }
        if (chunk.done) break;
        digests.update(chunk.value);
        await out.write(chunk.value);
        received += chunk.value.length;
        progress?.update(received, total);
      }
    } finally {
      await out.close();
    }
    if (total !== undefined && received !== total) {
      throw new RobenchError(`download of ${spec.url} is truncated: got ${received} of ${total} bytes`, retry);
    }
    const got = digests.digest();
    const problem = checksumProblem(spec, got, received);
    if (problem) {
      throw new RobenchError(
        `download of ${spec.url} is corrupt: ${problem}`,
        'The server sent something other than the original file; try again later or fetch it by hand.',
      );
    }
    await rename(tmp, spec.dest);
    progress?.finish(true, `${formatBytes(received)}, verified`);
    return got;
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    progress?.finish(false, e instanceof Error ? e.message : String(e));
    throw e;
  }
}
