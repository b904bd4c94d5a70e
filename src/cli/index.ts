// cli: the `holdfast` command line.
export { main } from './main.ts';
export { serve, loadServeConfig } from './serve.ts';
export { NODE_FLAGS, CLIENT_NODE_FLAGS, nodeArgsFromEnv } from './node-flags.ts';
export { groups } from './groups.ts';
