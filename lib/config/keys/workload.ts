// Keys of the migrated workload, its load generator and its metrics.
// Part of KEYS (lib/config/keys.ts), which fixes the order of the groups.

import { WORKLOAD_NAMES } from '../../../experiments/workloads/names.ts';
import { type KeyDecl, NAME, NAMEHINT, t } from './types.ts';

export const WORKLOAD_KEYS = {
  WORKLOAD: {
    group: 'workload',
    type: t.enum(WORKLOAD_NAMES),
    default: 'stream',
    description:
      'Workload to migrate: a folder experiments/workloads/<name>/ listed in experiments/workloads/index.ts (stream: WebSocket stream server; redis: redis-server and a RESP client)',
  },
  SIGNALING_PORT: {
    group: 'workload',
    type: t.port,
    default: '8080',
    description:
      "Service port of the workload's server: the stream server's WebSocket (and /health) port; redis listens on it too",
  },
  METRICS_PORT: { group: 'workload', type: t.port, default: '8081', description: 'Prometheus port of the stream server' },
  LOADGEN_METRICS_PORT: {
    group: 'workload',
    type: t.port,
    default: '9090',
    description: 'Prometheus port of the load generator',
  },
  SSH_TUNNEL_LOCAL_PORT: {
    group: 'workload',
    type: t.port,
    default: '19090',
    description: 'Local end of the forward to the load generator metrics',
  },
  SSH_TUNNEL_METRICS_PORT: {
    group: 'workload',
    type: t.port,
    default: '18081',
    description: 'Local end of the forward to the server metrics',
  },
  METRICS_INTERVAL: { group: 'workload', type: t.duration, default: '1s', description: 'Collector scrape interval' },
  LOADGEN_CONNECTIONS: {
    group: 'workload',
    type: t.int(1, 10000),
    default: '4',
    description: 'Connections of the load generator (stream: WebSocket; redis: RESP)',
  },
  STATE_MB: {
    group: 'workload',
    type: t.int(0, 65536),
    default: '0',
    description:
      'MB of application state the server holds and keeps modifying (checkpoint size grows with it): downtime against state size; redis: MB its client preloads as 1 MiB values',
  },
  LOADGEN_RAMP: {
    group: 'workload',
    type: t.duration,
    default: '200ms',
    description:
      'Pause between opening two load generator connections (200ms: the published behaviour; 0ms opens them all at once)',
  },
  LOADGEN_FPS: {
    group: 'workload',
    type: t.int(1, 1000),
    default: '30',
    description: 'Data frames per second per connection (redis: write + read-back ticks per second per connection)',
  },
  FRAME_PADDING: { group: 'workload', type: t.int(0, 1048576), default: '512', description: 'Padding bytes per data frame' },
  RTT_CAP: { group: 'workload', type: t.duration, default: '1000ms', description: 'RTTs above this are discarded as stale' },
  SERVER_IMAGE: {
    group: 'workload',
    type: t.string(/^[a-z0-9][a-z0-9_./-]*(:[\w.-]+)?$/, 'an image name'),
    default: 'localhost/p4cf-stream-server',
    description:
      'Image name of the stream server, built locally without any registry (other workloads name theirs in their record: redis localhost/p4cf-redis-server)',
  },
  SERVER_CONTAINER: {
    group: 'workload',
    type: t.string(NAME, NAMEHINT),
    default: 'p4cf-server',
    description: 'Name of the server container',
  },
} as const satisfies Record<string, KeyDecl>;
