// The API versions this broker advertises. Minimum versions are 0 everywhere (KAFKA-PROTOCOL.md §7
// fact 1: librdkafka turns whole features off when v0 is missing); versions we advertise but do
// not serve (pre-v2 message formats) get UNSUPPORTED_VERSION in the response body. Maxima stay at
// the non-flexible versions every named client sends (§1.5 option A), plus ApiVersions v3.
export const SUPPORTED_VERSIONS: ReadonlyMap<number, readonly [number, number]> = new Map<number, readonly [number, number]>([
  [0, [0, 8]], // Produce (v0-2 answered with UNSUPPORTED_FOR_MESSAGE_FORMAT: they carry message format v0/v1; v8 adds the error message)
  [1, [0, 11]], // Fetch (v0-3 answered with UNSUPPORTED_VERSION: they expect message format v0/v1)
  [2, [0, 3]], // ListOffsets
  [3, [0, 6]], // Metadata (v7+ would add leader epochs and OffsetForLeaderEpoch validation)
  [8, [0, 7]], // OffsetCommit
  [9, [0, 5]], // OffsetFetch
  [10, [0, 2]], // FindCoordinator
  [11, [0, 5]], // JoinGroup (v4+: MEMBER_ID_REQUIRED; v5: static membership)
  [12, [0, 3]], // Heartbeat
  [13, [0, 3]], // LeaveGroup (v3: batched members)
  [14, [0, 3]], // SyncGroup
  [15, [0, 4]], // DescribeGroups
  [16, [0, 2]], // ListGroups
  [18, [0, 3]], // ApiVersions
  [19, [0, 4]], // CreateTopics
  [20, [0, 3]], // DeleteTopics
  [21, [0, 1]], // DeleteRecords (v2+ are flexible: §1.5's non-flexible maxima)
  [22, [0, 1]], // InitProducerId
  [32, [0, 3]], // DescribeConfigs
  [33, [0, 1]], // AlterConfigs (v2+ are flexible: §1.5's non-flexible maxima)
  [35, [0, 1]], // DescribeLogDirs (v2+ are flexible)
  [37, [0, 1]], // CreatePartitions (v2+ are flexible)
  [44, [0, 0]], // IncrementalAlterConfigs (v1+ are flexible)
  [42, [0, 1]], // DeleteGroups
  [47, [0, 0]], // OffsetDelete
]);

/** Produce below v3 and Fetch below v4 use message formats v0/v1, which Holdfast does not store. */
export const PRODUCE_MIN_SERVED = 3;
export const FETCH_MIN_SERVED = 4;
