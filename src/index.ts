// The package root: what `import { … } from 'holdfast'` gives.
export { startBroker, Broker, type StartBrokerOptions, type BrokerConfig } from './broker/index.ts';
export {
  Producer,
  ProducerError,
  type ProducerOptions,
  type ProducerMessage,
  type RecordMetadata,
  Consumer,
  ConsumerError,
  HandlerError,
  type ConsumerOptions,
  type ConsumerMessage,
  type DeliveryMode,
  Admin,
  type AdminOptions,
  KafkaProtocolError,
  ConnectionError,
} from './client/index.ts';
export { HoldfastError } from './util/index.ts';
