// Request and response headers. Their version depends on the API key and version of the body:
//   request header v0: api_key int16, api_version int16, correlation_id int32 (ControlledShutdown v0 only)
//   request header v1: v0 + client_id NULLABLE_STRING (int16 length)
//   request header v2: v1 + tagged fields. client_id keeps its int16 length ("flexibleVersions":
//                      "none" in RequestHeader.json) so that any broker can read any header.
//   response header v0: correlation_id int32;  v1: v0 + tagged fields.
// ApiVersions responses always use header v0, even for flexible versions, so that a client can
// parse the reply of a broker that does not know its version (KAFKA-PROTOCOL.md §1.7).
import { apis, API_KEYS } from './generated/apis.ts';
import type { ApiDescriptor } from './generated/apis.ts';
import type { Reader } from './reader.ts';
import type { Writer } from './writer.ts';

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
  /** The header version that was read (0, 1 or 2). */
  headerVersion: number;
}

/** True when `apiVersion` of `apiKey` is a valid, flexible version per the specs. */
export function isFlexibleVersion(apiKey: number, apiVersion: number): boolean {
  const api: ApiDescriptor | undefined = apis[apiKey];
  if (api === undefined || api.flexibleFrom === null) return false;
  return apiVersion >= api.flexibleFrom && apiVersion <= api.validVersions[1];
}

/**
 * Request header version for a request. Unknown API keys and versions outside validVersions get
 * v1: its fields are a prefix of v2, so api key, version, correlation id and client id can
 * always be read — enough to answer (ApiVersions) or to log and close the connection.
 */
export function requestHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === API_KEYS.ControlledShutdown && apiVersion === 0) return 0;
  return isFlexibleVersion(apiKey, apiVersion) ? 2 : 1;
}

/** Response header version: v1 for flexible versions, else v0; ApiVersions always v0. */
export function responseHeaderVersion(apiKey: number, apiVersion: number): number {
  if (apiKey === API_KEYS.ApiVersions) return 0;
  return isFlexibleVersion(apiKey, apiVersion) ? 1 : 0;
}

/** Reads a request header; api key and version come first and decide the header version. */
export function readRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16('RequestHeader.requestApiKey');
  const apiVersion = r.int16('RequestHeader.requestApiVersion');
  const correlationId = r.int32('RequestHeader.correlationId');
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  let clientId: string | null = null;
  if (headerVersion >= 1) clientId = r.nullableString('RequestHeader.clientId');
  if (headerVersion >= 2) r.skipTaggedFields('RequestHeader.taggedFields');
  return { apiKey, apiVersion, correlationId, clientId, headerVersion };
}

export function writeRequestHeader(
  w: Writer,
  apiKey: number,
  apiVersion: number,
  correlationId: number,
  clientId: string | null,
): void {
  const headerVersion = requestHeaderVersion(apiKey, apiVersion);
  w.int16(apiKey);
  w.int16(apiVersion);
  w.int32(correlationId);
  if (headerVersion >= 1) w.nullableString(clientId, 'RequestHeader.clientId');
  if (headerVersion >= 2) w.uvarint(0);
}

/** Reads a response header for a request of `apiKey` / `apiVersion`. */
export function readResponseHeader(r: Reader, apiKey: number, apiVersion: number): { correlationId: number } {
  const correlationId = r.int32('ResponseHeader.correlationId');
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) r.skipTaggedFields('ResponseHeader.taggedFields');
  return { correlationId };
}

export function writeResponseHeader(w: Writer, apiKey: number, apiVersion: number, correlationId: number): void {
  w.int32(correlationId);
  if (responseHeaderVersion(apiKey, apiVersion) >= 1) w.uvarint(0);
}
