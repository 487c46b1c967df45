import { gunzipSync } from 'node:zlib';
import { RobenchError } from '../core/errors.js';

/**
 * More than any original file robench decompresses holds (CIFAR-10's tarball,
 * 185 MB): a small file that inflates beyond it is a decompression bomb.
 */
export const MAX_GUNZIP_BYTES = 256 * 1024 * 1024;

/** Gunzips a whole file, turning zlib's terse errors into ones that name the file. */
export function gunzipFile(data: Uint8Array, file: string, maxBytes = MAX_GUNZIP_BYTES): Buffer {
  if (data.length < 18 || data[0] !== 0x1f || data[1] !== 0x8b) {
    throw new RobenchError(
      `${file}: not a gzip file (bad magic number)`,
      'The file is corrupt or not the original download; delete it and fetch it again.',
    );
  }
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new RobenchError(`${file}: decompresses to more than ${maxBytes} bytes, more than any original dataset file`, 'The file is not the original download; delete it and fetch it again.');
    }
    throw new RobenchError(
      `${file}: the gzip stream is truncated or corrupt (${(e as Error).message})`,
      'Delete the file and fetch it again.',
    );
  }
}
