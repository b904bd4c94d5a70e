// Whole-frame helpers for the broker and for clients: size prefix + header + body, via the
// generated codecs. Frames handed to the decoders are payloads without the size prefix (what
// FrameDecoder returns); the encoders return Buffer chunks including the size prefix, ready for
// socket.writev / cork+write. Record data in bodies is never copied (see Writer).
import { apis, API_KEYS } from './generated/apis.ts';
import type { ApiDescriptor } from './generated/apis.ts';
import { readRequestHeader, readResponseHeader, writeRequestHeader, writeResponseHeader } from './headers.ts';
import type { RequestHeader } from './headers.ts';
import { ProtocolError, UnsupportedVersionError } from './protocol-error.ts';
import { Reader } from './reader.ts';
import type { ReaderOptions } from './reader.ts';
import { encodeError, Writer } from './writer.ts';

/** Kafka's UNSUPPORTED_VERSION error code. */
const UNSUPPORTED_VERSION = 35;

export interface DecodedRequest {
  header: RequestHeader;
  /** The request body: RequestByKey[header.apiKey]. */
  body: object;
}

export interface DecodedResponse {
  correlationId: number;
  /** The response body: ResponseByKey[apiKey]. */
  body: object;
}

function inValidVersions(api: ApiDescriptor, apiVersion: number): boolean {
  return apiVersion >= api.validVersions[0] && apiVersion <= api.validVersions[1];
}

function checkFullyRead(r: Reader, what: string): void {
  if (r.pos !== r.end) throw new ProtocolError(`${what}: ${r.end - r.pos} unexpected bytes after the body`);
}

/**
 * Decodes a request frame (without its size prefix). Throws UnsupportedVersionError (carrying the
 * header fields) for an unknown API key or a version outside the spec's validVersions, and
 * ProtocolError for malformed bytes, including bytes left over after the body.
 */
export function decodeRequest(frame: Buffer, options?: ReaderOptions): DecodedRequest {
  const r = new Reader(frame, 0, frame.length, options);
  const header = readRequestHeader(r);
  const api: ApiDescriptor | undefined = apis[header.apiKey];
  if (api === undefined || !inValidVersions(api, header.apiVersion)) {
    const what = api === undefined
      ? `unknown API key ${header.apiKey}`
      : `${api.name} version ${header.apiVersion} is outside ${api.validVersions[0]}-${api.validVersions[1]}`;
    throw new UnsupportedVersionError(header.apiKey, header.apiVersion, header.correlationId, header.clientId, what);
  }
  const body = api.readRequest(r, header.apiVersion);
  checkFullyRead(r, `${api.name}Request v${header.apiVersion}`);
  return { header, body };
}

/** Decodes a response frame (without its size prefix) to a request of `apiKey` / `apiVersion`. */
export function decodeResponse(apiKey: number, apiVersion: number, frame: Buffer, options?: ReaderOptions): DecodedResponse {
  const r = new Reader(frame, 0, frame.length, options);
  const api: ApiDescriptor | undefined = apis[apiKey];
  const { correlationId } = readResponseHeader(r, apiKey, apiVersion);
  if (api === undefined || !inValidVersions(api, apiVersion)) {
    throw new UnsupportedVersionError(apiKey, apiVersion, correlationId, null, `cannot decode a response of API key ${apiKey} version ${apiVersion}`);
  }
  const body = api.readResponse(r, apiVersion);
  checkFullyRead(r, `${api.name}Response v${apiVersion}`);
  return { correlationId, body };
}

function encodable(apiKey: number, apiVersion: number): ApiDescriptor {
  const api: ApiDescriptor | undefined = apis[apiKey];
  if (api === undefined || !inValidVersions(api, apiVersion)) {
    throw encodeError(`API key ${apiKey}`, `version ${apiVersion} is not a valid version`);
  }
  return api;
}

/**
 * Builds a frame: size prefix, then whatever `fill` writes; returns the chunks. A message that
 * does not fit its schema (an int8 of 300, a missing array) surfaces as a ProtocolError with
 * code PROTOCOL_ENCODE naming `what`, with the original error as its cause.
 */
function frame(what: string, fill: (w: Writer) => void): Buffer[] {
  const w = new Writer();
  const sizeAt = w.reserveInt32();
  try {
    fill(w);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw encodeError(what, err instanceof Error ? err.message : String(err), err);
  }
  const size = w.byteLength - 4;
  if (size > 0x7fffffff) throw encodeError('frame', `${size} bytes exceed the int32 size prefix`);
  w.patchInt32(sizeAt, size);
  return w.toChunks();
}

/**
 * Encodes a response frame. `body` must be ResponseInputByKey[apiKey]; records fields may be
 * Buffer[] chunks, which are emitted without copying.
 */
export function encodeResponseFrame(apiKey: number, apiVersion: number, correlationId: number, body: unknown): Buffer[] {
  const api = encodable(apiKey, apiVersion);
  return frame(`${api.name}Response v${apiVersion}`, (w) => {
    writeResponseHeader(w, apiKey, apiVersion, correlationId);
    api.writeResponse(w, apiVersion, body as object);
  });
}

/** Encodes a request frame. `body` must be RequestInputByKey[apiKey]. */
export function encodeRequestFrame(
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
  body: unknown,
): Buffer[] {
  const api = encodable(apiKey, apiVersion);
  return frame(`${api.name}Request v${apiVersion}`, (w) => {
    writeRequestHeader(w, apiKey, apiVersion, correlationId, clientId);
    api.writeRequest(w, apiVersion, body as object);
  });
}

/**
 * The reply to an ApiVersions request whose version we do not serve: response header v0 and a
 * v0-format body — error_code 35 (UNSUPPORTED_VERSION) and an api_keys array holding only the
 * ApiVersions entry [18, min, max], so the client can retry with a version we do serve (what
 * Apache Kafka does). With `apiVersionsRange` null the array is empty.
 */
export function encodeApiVersionsUnsupported(
  correlationId: number,
  apiVersionsRange: readonly [number, number] | null,
): Buffer[] {
  return frame('ApiVersionsResponse v0 (unsupported version)', (w) => {
    w.int32(correlationId);
    w.int16(UNSUPPORTED_VERSION);
    if (apiVersionsRange === null) {
      w.arrayLength(0);
    } else {
      w.arrayLength(1);
      w.int16(API_KEYS.ApiVersions);
      w.int16(apiVersionsRange[0]);
      w.int16(apiVersionsRange[1]);
    }
  });
}
