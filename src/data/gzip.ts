import { gunzipSync } from 'node:zlib';
import { RobenchError } from '../errors.js';

/** Gunzips a whole file, turning zlib's terse errors into ones that name the file. */
export function gunzipFile(data: Uint8Array, file: string): Buffer {
  if (data.length < 18 || data[0] !== 0x1f || data[1] !== 0x8b) {
    throw new RobenchError(
      `${file}: not a gzip file (bad magic number)`,
      'The file is corrupt or not the original download; delete it and fetch it again.',
    );
  }
  try {
    return gunzipSync(data);
  } catch (e) {
    throw new RobenchError(
      `${file}: the gzip stream is truncated or corrupt (${(e as Error).message})`,
      'Delete the file and fetch it again.',
    );
  }
}
