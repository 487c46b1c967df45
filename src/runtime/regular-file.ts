/**
 * Reads a file that came from someone else (a model's weights, a dataset) without
 * trusting it: a FIFO must not hang the read, a device such as /dev/zero must not
 * grow memory without bound, and a file of the wrong size is refused before its
 * bytes are read.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { RobenchError } from '../core/errors.js';

export interface ReadLimits {
  /** The size the file must have, when known. */
  bytes?: number;
  /** The most bytes accepted when the exact size is not known. */
  maxBytes?: number;
  /** How to name the file in errors, e.g. "the weights file". */
  what: string;
  /** How to fix a refused file. */
  hint: string;
}

/** The file's contents; a RobenchError naming it when it is not a regular file of an acceptable size. */
export async function readRegularFile(path: string, limits: ReadLimits): Promise<Buffer> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch((e: NodeJS.ErrnoException) => {
    throw new RobenchError(`cannot read ${limits.what} ${path} (${e.code ?? e.message})`, limits.hint);
  });
  try {
    // Checked on the open handle, so a file swapped after the check is not the one read.
    const info = await handle.stat();
    if (!info.isFile()) throw new RobenchError(`${limits.what} ${path} is not a regular file`, limits.hint);
    if (limits.bytes !== undefined && info.size !== limits.bytes) {
      const how = info.size < limits.bytes ? 'too short' : 'too long';
      throw new RobenchError(`${limits.what} ${path} is ${how}: ${info.size} bytes where ${limits.bytes} are expected`, limits.hint);
    }
    if (limits.maxBytes !== undefined && info.size > limits.maxBytes) {
      throw new RobenchError(`${limits.what} ${path} is ${info.size} bytes, more than the ${limits.maxBytes} accepted`, limits.hint);
    }
    const buf = Buffer.alloc(info.size);
    let at = 0;
    while (at < buf.length) {
      const { bytesRead } = await handle.read(buf, at, buf.length - at, at);
      if (bytesRead === 0) throw new RobenchError(`${limits.what} ${path} shrank while it was read (${at} of ${buf.length} bytes)`, limits.hint);
      at += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}
