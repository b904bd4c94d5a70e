// client: talking to Holdfast (or any Kafka-protocol broker) from TypeScript.
export { KafkaConnection, KafkaProtocolError, ConnectionError, parseBroker, type ConnectionOptions } from './connection.ts';
export { Admin, decodeConsumerAssignment, type AdminOptions, type PartitionLag, type GroupDescription } from './admin.ts';
export { ClientCluster, type ClusterOptions, type TopicMetadata } from './cluster.ts';
