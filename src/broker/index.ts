// broker: partitions, produce/fetch paths, topic administration and the Kafka listener.
export { Broker, startBroker, type StartBrokerOptions, type BrokerDependencies } from './broker.ts';
export { type BrokerConfig, BROKER_KEYS, defaultBrokerConfig, applyConfig, checkBrokerConfig, advertisedHostOf } from './config.ts';
export { TOPIC_CONFIGS, resolveTopicConfig, type TopicConfigOverrides } from './topic-config.ts';
export { SUPPORTED_VERSIONS } from './versions.ts';
