// client: talking to Holdfast (or any Kafka-protocol broker) from TypeScript.
export { KafkaConnection, KafkaProtocolError, ConnectionError, parseBroker, type ConnectionOptions } from './connection.ts';
export { Admin, type AdminOptions, type PartitionLag, type GroupDescription, type NewTopic, type TopicDescription, type TopicPartitionInfo, type ConfigEntry, type OffsetResetTarget } from './admin.ts';
export { ClientCluster, type ClusterOptions, type TopicMetadata } from './cluster.ts';
export { Producer, ProducerError, ProducerErrorCode, MIN_BATCH_BYTES, type ProducerErrorCodeValue, type ProducerOptions, type ProducerMessage, type RecordMetadata, type SendCallback } from './producer.ts';
export { murmur2, toPositive, partitionForKey, createDefaultPartitioner, type Partitioner, type PartitionerInput, type DefaultPartitionerOptions } from './partitioner.ts';
export { Consumer, type ConsumerOptions, type DeliveryMode, type RetryPolicy, type MessageHandler, type TopicPartition, type CommittedOffset, type RetryEvent, type ConsumerEvents } from './consumer.ts';
export { ConsumerError, ConsumerErrorCode, HandlerError, type ConsumerErrorCodeValue } from './consumer-errors.ts';
export { type ConsumerMessage } from './consumer-fetch.ts';
export { rangeAssignor, roundRobinAssignor, encodeSubscription, decodeSubscription, encodeAssignment, decodeAssignment, type Assignor, type AssignorName, type MemberSubscription, type TopicPartitions, type ConsumerSubscription, type ConsumerAssignment } from './assignor.ts';
export { TopicReader, type TopicReaderOptions, type ReadPosition } from './reader.ts';
// Kafka's error codes by name, to compare with KafkaProtocolError.kafkaErrorCode, and back.
export { ErrorCode, errorName } from '../protocol/kafka/index.ts';
