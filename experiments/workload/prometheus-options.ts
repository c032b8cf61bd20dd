// The command-line options of every workload client that serves its figures as Prometheus text
// (the stream load generator, the redis client): where /metrics listens.
import { intIn, type Options } from '../../lib/run/cli.ts';

export const prometheusOptions = {
  'metrics-port': {
    type: 'string',
    arg: 'PORT',
    default: '9090',
    parse: intIn(0, 65535),
    help: 'Prometheus port (default 9090; 0 = any)',
  },
  'metrics-listen': {
    type: 'string',
    arg: 'ADDR',
    default: '127.0.0.1',
    help: 'Prometheus listen address (default 127.0.0.1)',
  },
} as const satisfies Options;
