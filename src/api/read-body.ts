/**
 * Reads a request body up to a limit, without buffering more than the limit: a larger body is
 * refused as soon as it is known to be too large. With `decode`, a body sent with
 * `Content-Encoding: gzip` or `deflate` is decompressed, and the limit applies to what it
 * decompresses to as well (a small body cannot expand past it).
 */
import { IncomingMessage } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw, type ZlibOptions } from 'node:zlib';
import type { Context } from 'hono';
import { parseJsonText } from '../core/json/json-text.ts';
import { httpError } from './http-error.ts';

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the request body is larger than ${limit} bytes`);
  }
}

/** A `Content-Encoding` Sluice does not decode. */
export class UnsupportedEncoding extends Error {
  constructor(readonly encoding: string) {
    super(`Content-Encoding ${encoding} is not supported`);
  }
}

/** A body that is not valid data of its `Content-Encoding`. */
export class BadEncoding extends Error {
  constructor(readonly encoding: string) {
    super(`the body is not valid ${encoding} data`);
  }
}

/** The encodings `decode` takes, as `Content-Encoding` names them. */
export const BODY_ENCODINGS = ['gzip', 'deflate'];

type Decoder = (data: Uint8Array, opts: ZlibOptions) => Promise<Buffer>;
const gunzipAsync = promisify(gunzip) as Decoder;
const inflateAsync = promisify(inflate) as Decoder;
const inflateRawAsync = promisify(inflateRaw) as Decoder;
// HTTP's deflate is the zlib format; some clients send raw deflate, which is taken too.
const DECODERS: Record<string, Decoder> = {
  gzip: gunzipAsync,
  'x-gzip': gunzipAsync,
  deflate: (data, opts) => inflateAsync(data, opts).catch((e: { code?: string }) => (e.code === 'ERR_BUFFER_TOO_LARGE' ? Promise.reject(e) : inflateRawAsync(data, opts))),
};

async function decoded(raw: Uint8Array, header: string | null | undefined, limit: number): Promise<Uint8Array> {
  const encoding = (header ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw;
  const decode = DECODERS[encoding];
  if (!decode) throw new UnsupportedEncoding(encoding);
  try {
    return await decode(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new BodyTooLarge(limit);
    throw new BadEncoding(encoding);
  }
}

/**
 * The body of the request of `c`. Served by Node, it is read from Node's own request, without
 * the web stream a `Request` body goes through (a fifth of the intake's cost per request).
 * `decode` decompresses a gzip or deflate body (UnsupportedEncoding for another encoding,
 * BadEncoding for data that is not what it says).
 */
export async function readBody(c: Context, limit: number, opts: { decode?: boolean } = {}): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming;
  const fresh = incoming instanceof IncomingMessage && !incoming.readableDidRead && !incoming.readableEnded;
  const raw = await (fresh ? readIncoming(incoming, limit) : readRequest(c.req.raw, limit));
  return opts.decode ? decoded(raw, c.req.header('content-encoding'), limit) : raw;
}

/**
 * The 4xx answer for a body that could not be read or decoded (see readBody), or undefined for
 * another error. `what` names the body in a too-large message ("a request body").
 */
export function bodyError(c: Context, e: unknown, limit: number, what: string): Response | undefined {
  if (e instanceof BodyTooLarge) return httpError(c, 413, 'body_too_large', `${what} may hold at most ${limit} bytes (decompressed, when it is sent compressed)`);
  if (e instanceof UnsupportedEncoding) {
    return httpError(c, 415, 'unsupported_encoding', `Content-Encoding ${e.encoding} is not supported: send the body as it is, or compressed with ${BODY_ENCODINGS.join(' or ')}`);
  }
  if (e instanceof BadEncoding) return httpError(c, 400, 'invalid_encoding', `the body is not valid ${e.encoding} data, as its Content-Encoding says`);
  return undefined;
}

/** JSON text as sent, without the byte order mark some clients put first (RFC 8259 lets a parser ignore it). */
export const withoutBom = (text: string): string => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

function readIncoming(incoming: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = Number(incoming.headers['content-length'] ?? NaN);
  if (declared > limit) return Promise.reject(new BodyTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (e: unknown): void => {
      incoming.off('data', onData).off('end', onEnd).off('error', done).off('close', onClose);
      if (e) reject(e);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) done(new BodyTooLarge(limit)); // the server drains the rest
      else chunks.push(chunk);
    };
    const onEnd = (): void => done(null);
    const onClose = (): void => done(new Error('the client closed the connection before the body ended'));
    incoming.on('data', onData).on('end', onEnd).on('error', done).on('close', onClose);
  });
}

async function readRequest(req: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > limit) throw new BodyTooLarge(limit);
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new BodyTooLarge(limit);
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/**
 * Where JSON text that JSON.parse refused goes wrong, by line and column only: the engine's own
 * message can quote the input. Sluice's own parser (run only on this error path) finds the spot.
 */
export function jsonErrorAt(text: string): string {
  let message = '';
  try {
    parseJsonText(text);
  } catch (e) {
    message = (e as Error).message;
  }
  const m = /position (\d+)/.exec(message);
  if (!m) return 'not valid JSON';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return `not valid JSON at line ${line}, column ${column}`;
}

/**
 * A small JSON request body (queries, admin requests), or the 413/400 response that refuses it.
 *
 * @example const body = await readJsonBody(c, 64 * 1024, 'a query request'); if (body instanceof Response) return body;
 */
export async function readJsonBody(c: Context, limit: number, what: string): Promise<unknown> {
  let text: string;
  try {
    text = withoutBom(Buffer.from(await readBody(c, limit, { decode: true })).toString('utf8'));
  } catch (e) {
    const refused = bodyError(c, e, limit, what);
    if (refused) return refused;
    throw e;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return httpError(c, 400, 'malformed_json', `the body is ${jsonErrorAt(text)}`);
  }
}
