// Errors raised while decoding or encoding the Kafka wire protocol. Every decode failure caused by
// bytes from the network is a ProtocolError (never a RangeError/TypeError), so the connection
// layer can catch one type, log it and close the connection.
import { HoldfastError } from '../../util/index.ts';

/** Malformed bytes from the peer (code 'PROTOCOL_DECODE') or an unencodable message ('PROTOCOL_ENCODE'). */
export class ProtocolError extends HoldfastError {
  override name = 'ProtocolError';
  constructor(message: string, options: { code?: string; kafkaErrorCode?: number; cause?: unknown } = {}) {
    // Kafka's INVALID_REQUEST (42) is what a broker reports for a request it cannot parse.
    super(options.code ?? 'PROTOCOL_DECODE', message, {
      kafkaErrorCode: options.kafkaErrorCode ?? 42,
      cause: options.cause,
    });
  }
}

/** A frame's size prefix is negative or above the limit. The caller must close the connection. */
export class FrameError extends ProtocolError {
  override name = 'FrameError';
  readonly frameBytes: number;
  readonly maxFrameBytes: number;
  constructor(frameBytes: number, maxFrameBytes: number) {
    super(
      frameBytes < 0
        ? `frame size ${frameBytes} is negative (limit ${maxFrameBytes} bytes)`
        : `frame size ${frameBytes} bytes exceeds the limit of ${maxFrameBytes} bytes`,
      { code: 'FRAME_SIZE' },
    );
    this.frameBytes = frameBytes;
    this.maxFrameBytes = maxFrameBytes;
  }
}

/**
 * A request for an API key we do not know, or a version outside the spec's validVersions. The
 * header was read, so the broker can still answer (ApiVersions gets a v0 reply with error 35, see
 * `encodeApiVersionsUnsupported`); for any other API Kafka closes the connection.
 */
export class UnsupportedVersionError extends ProtocolError {
  override name = 'UnsupportedVersionError';
  readonly apiKey: number;
  readonly apiVersion: number;
  readonly correlationId: number;
  readonly clientId: string | null;
  constructor(apiKey: number, apiVersion: number, correlationId: number, clientId: string | null, message: string) {
    super(message, { code: 'UNSUPPORTED_VERSION', kafkaErrorCode: 35 });
    this.apiKey = apiKey;
    this.apiVersion = apiVersion;
    this.correlationId = correlationId;
    this.clientId = clientId;
  }
}
