// Byte-exact encodings checked by hand against the protocol grammar, and the framing exceptions
// of KAFKA-PROTOCOL.md §1.6/§1.7 (ApiVersions response header v0, INT16 client_id in header v2,
// ControlledShutdown v0 header, the unsupported-ApiVersions reply).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  API_KEYS,
  apis,
  decodeRequest,
  decodeResponse,
  encodeApiVersionsUnsupported,
  encodeRequestFrame,
  encodeResponseFrame,
  ProtocolError,
  requestHeaderVersion,
  responseHeaderVersion,
  UnsupportedVersionError,
} from '../../../src/protocol/kafka/index.ts';
import type { FetchRequest } from '../../../src/protocol/kafka/index.ts';

function hexOf(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('hex');
}

const ascii = (s: string): string => Buffer.from(s).toString('hex');

test('ApiVersions v0 request: size, header v1 (int16 client id), empty body', () => {
  const got = hexOf(encodeRequestFrame(API_KEYS.ApiVersions, 0, 1, 'kafkajs', {}));
  assert.equal(got, '00000011' + '0012' + '0000' + '00000001' + '0007' + ascii('kafkajs'));
});

test('Metadata v1 request with a topic list, and with null (all topics)', () => {
  assert.equal(
    hexOf(encodeRequestFrame(API_KEYS.Metadata, 1, 0x0a0b0c0d, 'c', { topics: [{ name: 'test' }] })),
    '00000015' + '0003' + '0001' + '0a0b0c0d' + '0001' + ascii('c') + '00000001' + '0004' + ascii('test'),
  );
  assert.equal(
    hexOf(encodeRequestFrame(API_KEYS.Metadata, 1, 1, null, { topics: null })),
    '0000000e' + '0003' + '0001' + '00000001' + 'ffff' + 'ffffffff',
  );
});

test('flexible request: header v2 keeps the int16 client id, then tagged fields; compact body', () => {
  const got = hexOf(encodeRequestFrame(API_KEYS.ApiVersions, 3, 2, 'id', { clientSoftwareName: 'sw', clientSoftwareVersion: '1' }));
  // header: key 18, v3, corr 2, client id int16 "id", 0 tags | body: compact "sw", compact "1", 0 tags
  assert.equal(got, '00000013' + '0012' + '0003' + '00000002' + '0002' + ascii('id') + '00' + '03' + ascii('sw') + '02' + ascii('1') + '00');
});

test('ApiVersions responses always use header v0 (no tag byte), other flexible responses v1', () => {
  const av = hexOf(encodeResponseFrame(API_KEYS.ApiVersions, 3, 5, { errorCode: 0, apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 3 }], throttleTimeMs: 0 }));
  // corr | error 0 | compact array of 1 | key min max + 0 tags | throttle | 0 tags
  assert.equal(av, '00000013' + '00000005' + '0000' + '02' + '0012' + '0000' + '0003' + '00' + '00000000' + '00');
  const hb = hexOf(encodeResponseFrame(API_KEYS.Heartbeat, 4, 6, { throttleTimeMs: 1, errorCode: 27 }));
  assert.equal(hb, '0000000c' + '00000006' + '00' + '00000001' + '001b' + '00');
  assert.equal(responseHeaderVersion(API_KEYS.ApiVersions, 3), 0);
  assert.equal(responseHeaderVersion(API_KEYS.ApiVersions, 0), 0);
  assert.equal(responseHeaderVersion(API_KEYS.Heartbeat, 4), 1);
  assert.equal(responseHeaderVersion(API_KEYS.Heartbeat, 3), 0);
});

test('header versions follow flexibleVersions for every API; ControlledShutdown v0 uses header v0', () => {
  for (const api of Object.values(apis)) {
    for (let v = api.validVersions[0]; v <= api.validVersions[1]; v++) {
      const flexible = api.flexibleFrom !== null && v >= api.flexibleFrom;
      const expectedRequest = api.apiKey === API_KEYS.ControlledShutdown && v === 0 ? 0 : flexible ? 2 : 1;
      assert.equal(requestHeaderVersion(api.apiKey, v), expectedRequest, `${api.name} v${v}`);
      assert.equal(responseHeaderVersion(api.apiKey, v), flexible && api.apiKey !== API_KEYS.ApiVersions ? 1 : 0, `${api.name} v${v}`);
    }
  }
  assert.equal(requestHeaderVersion(9999, 0), 1, 'unknown API key: header v1');
  assert.equal(requestHeaderVersion(API_KEYS.ApiVersions, 99), 1, 'unknown version: header v1');
  assert.equal(hexOf(encodeRequestFrame(API_KEYS.ControlledShutdown, 0, 3, 'ignored', { brokerId: 1 })), '0000000c' + '0007' + '0000' + '00000003' + '00000001');
  const decoded = decodeRequest(Buffer.from('0007000000000003' + '00000001', 'hex'));
  assert.deepEqual(decoded.header, { apiKey: 7, apiVersion: 0, correlationId: 3, clientId: null, headerVersion: 0 });
});

test('the unsupported-ApiVersions reply is header v0 + a v0 body with error 35 and the ApiVersions entry', () => {
  assert.equal(hexOf(encodeApiVersionsUnsupported(9, [0, 3])), '00000010' + '00000009' + '0023' + '00000001' + '0012' + '0000' + '0003');
  assert.equal(hexOf(encodeApiVersionsUnsupported(9, null)), '0000000a' + '00000009' + '0023' + '00000000');
  // It parses as an ApiVersions v0 response.
  const frame = Buffer.concat(encodeApiVersionsUnsupported(9, [0, 4]));
  assert.deepEqual(decodeResponse(API_KEYS.ApiVersions, 0, frame.subarray(4)).body, {
    errorCode: 35,
    apiKeys: [{ apiKey: 18, minVersion: 0, maxVersion: 4 }],
    throttleTimeMs: 0,
    supportedFeatures: [],
    finalizedFeaturesEpoch: -1,
    finalizedFeatures: [],
    zkMigrationReady: false,
  });
});

test('unknown API keys and versions throw UnsupportedVersionError carrying the header', () => {
  // ApiVersions v9 from a future client: header v2 on the wire, read as v1 (tag byte left unread).
  const future = Buffer.from('0012' + '0009' + '0000002a' + '0003' + ascii('new') + '00' + '0377' + '00', 'hex');
  assert.throws(() => decodeRequest(future), (e: unknown) => {
    assert.ok(e instanceof UnsupportedVersionError && e instanceof ProtocolError);
    assert.equal(e.apiKey, 18);
    assert.equal(e.apiVersion, 9);
    assert.equal(e.correlationId, 42);
    assert.equal(e.clientId, 'new');
    assert.equal(e.kafkaErrorCode, 35);
    return true;
  });
  const unknownKey = Buffer.from('7fff' + '0000' + '00000001' + 'ffff', 'hex');
  assert.throws(() => decodeRequest(unknownKey), (e: unknown) => e instanceof UnsupportedVersionError && e.apiKey === 0x7fff && e.clientId === null);
  assert.throws(() => encodeResponseFrame(API_KEYS.Produce, 12, 1, {}), (e: unknown) => e instanceof ProtocolError && e.code === 'PROTOCOL_ENCODE');
});

test('trailing bytes after a body are an error', () => {
  const frame = Buffer.concat(encodeRequestFrame(API_KEYS.ApiVersions, 0, 1, 'c', {}));
  assert.throws(() => decodeRequest(Buffer.concat([frame.subarray(4), Buffer.from([0])])), (e: unknown) => e instanceof ProtocolError && /unexpected bytes/.test(e.message));
});

test('unknown tagged fields are skipped; known tags outside their versions are skipped too', () => {
  // ApiVersions v3 request with an unknown header tag and an unknown body tag.
  const req = Buffer.from(
    '0012' + '0003' + '00000001' + '0001' + ascii('c') + '01' + '05' + '02' + 'beef' + // header: 1 tag (5, 2 bytes)
    '02' + ascii('a') + '02' + ascii('b') + '02' + '00' + '00' + '63' + '03' + 'aabbcc', // body: 2 tags (0, 0 bytes) (99, 3 bytes)
    'hex',
  );
  assert.deepEqual(decodeRequest(req).body, { clientSoftwareName: 'a', clientSoftwareVersion: 'b' });
  // Fetch v12 request carrying tag 1 (ReplicaState, only valid from v15) and tag 0 (ClusterId).
  const fetch = Buffer.concat(encodeRequestFrame(API_KEYS.Fetch, 12, 1, 'c', { maxWaitMs: 1, minBytes: 1, topics: [] })).subarray(4);
  assert.equal(fetch[fetch.length - 1], 0, 'no tags written for defaults');
  const withTags = Buffer.concat([
    fetch.subarray(0, fetch.length - 1),
    Buffer.from('02' + '00' + '03' + '03' + ascii('cl') + '01' + '03' + 'aabbcc', 'hex'),
  ]);
  const body = decodeRequest(withTags).body as FetchRequest;
  assert.equal(body.clusterId, 'cl');
  assert.deepEqual(body.replicaState, { replicaId: -1, replicaEpoch: -1 });
  // A known tag whose value does not fill its declared size is malformed.
  const bad = Buffer.concat([fetch.subarray(0, fetch.length - 1), Buffer.from('01' + '00' + '04' + '03' + ascii('cl') + 'ff', 'hex')]);
  assert.throws(() => decodeRequest(bad), (e: unknown) => e instanceof ProtocolError && e.message.includes('FetchRequest.clusterId'));
});

test('a body that does not fit its schema fails to encode with a ProtocolError naming the API', () => {
  assert.throws(
    () => encodeResponseFrame(API_KEYS.Heartbeat, 0, 1, { errorCode: 70000 }),
    (e: unknown) => e instanceof ProtocolError && e.code === 'PROTOCOL_ENCODE' && e.message.includes('HeartbeatResponse v0') && e.cause instanceof RangeError,
  );
  assert.throws(
    () => encodeRequestFrame(API_KEYS.Metadata, 1, 1, 'c', {}),
    (e: unknown) => e instanceof ProtocolError && e.message.includes('MetadataRequest v1'),
  );
});
