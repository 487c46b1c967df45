/**
 * Downloads one file of a model served over http(s): a server that stops
 * answering is given up on with a message, an error status is reported as such
 * (not as the garbled tensor it would decode to), and a body of the wrong size is
 * refused without holding more of it than the manifest allows.
 */
import { RobenchError } from '../core/errors.js';

export interface FetchLimits {
  /** The size the body must have, when known. */
  bytes?: number;
  /** The most bytes accepted when the exact size is not known. */
  maxBytes: number;
  /** Seconds of silence from the server before giving up. */
  timeoutMs: number;
  /** How to name the file in errors, e.g. "the weights file". */
  what: string;
}

const RETRY = 'check the URL and the network connection, then run the command again';

/** Redirects followed within one origin (http to https on another port is another origin). */
const MAX_REDIRECTS = 5;

/** The body at `url`, checked against `limits`. */
export async function fetchModelFile(url: string, limits: FetchLimits): Promise<Uint8Array> {
  const abort = new AbortController();
  const silence = () => new RobenchError(`${limits.what} ${url}: the server sent nothing for ${limits.timeoutMs / 1000} s`, RETRY);
  // Reset on every chunk: a large file on a slow link is fine, a server that stops answering is not.
  let timer = setTimeout(() => abort.abort(silence()), limits.timeoutMs);
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(silence()), limits.timeoutMs);
  };
  const failed = (e: unknown): RobenchError => {
    if (abort.signal.aborted) return abort.signal.reason as RobenchError;
    const err = e as Error & { cause?: Error };
    return new RobenchError(`cannot download ${limits.what} ${url} (${err.cause?.message ?? err.message})`, RETRY);
  };
  try {
    let res: Response | undefined;
    // Redirects are followed here, not by fetch: the origin is checked before each request, and a
    // server that sends the request on to another origin would otherwise serve the weights from there.
    let at = new URL(url);
    for (let hop = 0; ; hop++) {
      try {
        res = await fetch(at, { signal: abort.signal, redirect: 'manual' });
      } catch (e) {
        throw failed(e);
      }
      if (res.status < 300 || res.status >= 400 || res.status === 304) break;
      const location = res.headers.get('location');
      await res.body?.cancel();
      if (!location) throw new RobenchError(`cannot download ${limits.what} ${url}: HTTP ${res.status} without a Location`, RETRY);
      const next = new URL(location, at);
      if (next.origin !== at.origin) {
        throw new RobenchError(
          `${limits.what} ${url} redirects to another server (${next.origin}); robench takes a model's files from its own server only`,
          `give the URL the files finally live at (${next.origin}), if you trust that server`,
        );
      }
      if (hop >= MAX_REDIRECTS) throw new RobenchError(`${limits.what} ${url} redirects more than ${MAX_REDIRECTS} times`, RETRY);
      at = next;
    }
    if (!res.ok || !res.body) {
      throw new RobenchError(`cannot download ${limits.what} ${url}: HTTP ${res.status} ${res.statusText}`, RETRY);
    }
    const limit = limits.bytes ?? limits.maxBytes;
    const wrongSize = (got: number, more: boolean) =>
      new RobenchError(
        limits.bytes === undefined
          ? `${limits.what} ${url} is more than the ${limit} bytes accepted`
          : `${limits.what} ${url} is too ${got < limit ? 'short' : 'long'}: ${got}${more ? '+' : ''} bytes where ${limit} are expected`,
        'the server holds a file that does not match its model.json; re-export or re-upload the model',
      );
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && (declared > limit || (limits.bytes !== undefined && declared !== limits.bytes))) {
      await res.body.cancel();
      throw wrongSize(declared, false);
    }
    const chunks: Uint8Array[] = [];
    let received = 0;
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw failed(e);
      }
      if (chunk.done) break;
      alive();
      received += chunk.value.length;
      if (received > limit) {
        await reader.cancel();
        throw wrongSize(received, true);
      }
      chunks.push(chunk.value);
    }
    if (limits.bytes !== undefined && received !== limits.bytes) throw wrongSize(received, false);
    return Buffer.concat(chunks, received);
  } finally {
    clearTimeout(timer);
  }
}
