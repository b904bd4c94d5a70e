// storage: the durable segmented log. FileSystem seam (real and simulated), partition logs with
// group-committed fsync, recovery, sparse indexes, checkpoints, producer (idempotence) state.
export {
  type FileHandle,
  type FileSystem,
  type OpenMode,
  type FsError,
  type Timers,
  realTimers,
  errorCode,
  isNotFound,
  joinPath,
} from './fs.ts';
export { NodeFileSystem } from './node-fs.ts';
export { SimFileSystem, type SimFault, type SimFaultRates, type SimOp, type SimErrorCode } from './sim-fs.ts';
export { writeFileAtomic, readFileIfExists } from './atomic-file.ts';
export { DiskSpace } from './disk-space.ts';
export {
  encodeOffsetCheckpoint,
  parseOffsetCheckpoint,
  encodeEpochCheckpoint,
  parseEpochCheckpoint,
  CheckpointFormatError,
  type OffsetCheckpointEntry,
  type EpochEntry,
} from './checkpoint.ts';
export { type LogConfig, DEFAULT_LOG_CONFIG, validateLogConfig } from './config.ts';
export { OffsetOutOfRangeError, LogUnavailableError, InvalidBatchError, BatchTooLargeError } from './errors.ts';
export { FileHandleCache, DEFAULT_MAX_OPEN_FILES } from './handle-cache.ts';
export { InlineWrites, type InlineWritesOptions, MAX_INLINE_WRITE_BYTES } from './inline-writes.ts';
export { LeaderEpochCache } from './leader-epoch.ts';
export {
  PartitionLog,
  type PartitionLogOptions,
  type AppendResult,
  type ReadResult,
  type LogState,
  DEFAULT_TAIL_CACHE_BYTES,
  DEFAULT_MAX_WAITERS,
  MAX_PREALLOCATE_BYTES,
} from './log.ts';
export {
  LogManager,
  type LogManagerOptions,
  parsePartitionDirName,
  RECOVERY_POINT_CHECKPOINT_FILE,
  LOG_START_OFFSET_CHECKPOINT_FILE,
  CLEAN_SHUTDOWN_FILE,
  DEFAULT_TAIL_CACHE_TOTAL_BYTES,
} from './log-manager.ts';
export { TailCache, TailCacheBudget } from './tail-cache.ts';
export { LEADER_EPOCH_FILE, PARTITION_META_FILE, PRODUCER_SNAPSHOT_FILE, DEFAULT_CLEAN_OPEN_SCAN_BYTES } from './log-loader.ts';
export {
  ProducerStateManager,
  type ProducerEntry,
  type ProducerBatch,
  type ProducerBatchHeader,
  type ProducerCheck,
  incrementSequence,
  PRODUCER_BATCHES_RETAINED,
  DEFAULT_MAX_PRODUCERS,
} from './producer-state.ts';
export { segmentFileName, parseSegmentFileName } from './segment.ts';
