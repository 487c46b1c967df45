import { createHash } from 'node:crypto';
import type { DataFile } from './manifests.js';

export interface Digests {
  md5: string;
  sha256: string;
}

/** md5 and sha256 in one pass, since the originals publish one or the other. */
export class DigestStream {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');
  update(chunk: Uint8Array): void {
    this.md5.update(chunk);
    this.sha256.update(chunk);
  }
  digest(): Digests {
    return { md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex') };
  }
}

/** sha256 always (sources record it); md5 only when asked, as it costs more than sha256 on large files. */
export function digestBytes(buf: Uint8Array, md5 = true): Digests {
  return {
    md5: md5 ? createHash('md5').update(buf).digest('hex') : '',
    sha256: createHash('sha256').update(buf).digest('hex'),
  };
}

/** Why the content does not match the published checksums (sha256 when known, else md5), or null when it does. */
export function checksumProblem(expected: Pick<DataFile, 'md5' | 'sha256' | 'bytes'>, got: Digests, bytes: number): string | null {
  if (expected.bytes !== undefined && bytes !== expected.bytes) return `it has ${bytes} bytes, the original has ${expected.bytes}`;
  if (expected.sha256) return got.sha256 === expected.sha256 ? null : `its sha256 is ${got.sha256}, the original's is ${expected.sha256}`;
  if (expected.md5 && got.md5 !== expected.md5) return `its md5 is ${got.md5}, the original's is ${expected.md5}`;
  return null;
}
