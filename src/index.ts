// The package root: what `import { … } from 'holdfast'` gives.
export { startBroker, Broker, type StartBrokerOptions, type BrokerConfig } from './broker/index.ts';
export { HoldfastError } from './util/index.ts';
