// The redis workload: Debian's redis-server binary (and the libraries it links) in an image built
// on the server, persistence off, listening on SIGNALING_PORT (the port the switch configuration
// calls the service port); the client (./client.ts, bundled as redis-client.mjs) writes
// sequence-numbered keys over N connections and reads them back. No quiesce: redis has no pause
// signal (SIGUSR2 would terminate it), it serves until CRIU freezes it; drain still waits for the
// container's send queues to empty. Lossless = 0 lost writes, 0 stale reads, 0 reconnects.
import { sh } from '../../../lib/hosts/quote.ts';
import { percentile } from '../../../lib/analysis/stats.ts';
import type { Config } from '../../../lib/config/keys.ts';
import { CSV_COLUMNS } from '../../workload/columns.ts';
import { sampleValue, type Sample } from '../../workload/promtext.ts';
import type { Workload } from '../types.ts';
import { serviceIp } from '../../../lib/server/backend.ts';
import { columnLast, columnMax } from '../figures.ts';
import { ensureBinaryImage } from '../rootfs.ts';

/** Where Debian's redis-server package puts the binary (a symlink to redis-check-rdb: one binary,
 * whose mode comes from argv[0], hence the name inside the image). */
export const REDIS_BINARY = '/usr/bin/redis-server';
export const REDIS_IMAGE = 'localhost/p4cf-redis-server';

export const REDIS_COLUMNS = [
  'redis_writes_acked',
  'redis_reads_verified',
  'redis_failed_commands',
  'redis_lost_writes',
  'redis_stale_reads',
  'redis_reconnects',
  'redis_latency_avg_ms',
  'redis_latency_p50_ms',
  'redis_latency_p95_ms',
  'redis_latency_p99_ms',
  'redis_latency_max_ms',
  'redis_latency_samples',
  'redis_keys',
  'redis_state_bytes',
  'redis_verify_lag_keys',
  'redis_commands_processed',
] as const;

export function redisClientArgs(c: Config): string[] {
  return [
    '--host',
    serviceIp(c),
    '--port',
    String(c.SIGNALING_PORT),
    '--connections',
    String(c.LOADGEN_CONNECTIONS),
    '--rate',
    String(c.LOADGEN_FPS),
    '--ramp',
    `${c.LOADGEN_RAMP}ms`,
    '--metrics-port',
    String(c.LOADGEN_METRICS_PORT),
    '--metrics-listen',
    '127.0.0.1',
    '--state-mb',
    String(c.STATE_MB),
  ];
}

/** PING over a plain TCP connection with the node every host has (no redis-cli needed there). */
export function pingCmd(ip: string, port: number): string {
  const js =
    `const s=require("net").connect(${port},${JSON.stringify(ip)});s.setTimeout(2000,()=>process.exit(1));` +
    's.on("error",()=>process.exit(1));s.on("data",d=>process.exit(String(d).startsWith("+PONG")?0:1));s.write("PING\\r\\n")';
  return sh`node -e ${js}`;
}

export function redisRow(
  now: number,
  startedAt: number,
  _srv: Sample[] | undefined,
  cl: Sample[] | undefined,
  migration: boolean,
) {
  const l = (n: string) => (cl ? sampleValue(cl, n) : undefined);
  const mem = l('redis_server_used_memory_bytes');
  return {
    timestamp: new Date(now).toISOString(),
    timestamp_unix_milli: now,
    elapsed_s: (now - startedAt) / 1000,
    connected_clients: l('redis_server_connected_clients'),
    total_clients: l('redis_server_connections_received_total'),
    bytes_sent: l('redis_server_net_output_bytes_total'),
    bytes_received: l('redis_server_net_input_bytes_total'),
    uptime_s: l('redis_server_uptime_seconds'),
    lg_connected_clients: l('redis_client_connected'),
    connection_drops: l('redis_client_reconnects_total'),
    memory_mb: mem === undefined ? undefined : mem / (1024 * 1024),
    migration_event: migration ? 1 : 0,
    loadgen_scrape_ok: cl ? 1 : 0,
    redis_writes_acked: l('redis_client_writes_acked_total'),
    redis_reads_verified: l('redis_client_reads_verified_total'),
    redis_failed_commands: l('redis_client_failed_commands_total'),
    redis_lost_writes: l('redis_client_lost_writes_total'),
    redis_stale_reads: l('redis_client_stale_reads_total'),
    redis_reconnects: l('redis_client_reconnects_total'),
    redis_latency_avg_ms: l('redis_client_latency_avg_ms'),
    redis_latency_p50_ms: l('redis_client_latency_p50_ms'),
    redis_latency_p95_ms: l('redis_client_latency_p95_ms'),
    redis_latency_p99_ms: l('redis_client_latency_p99_ms'),
    redis_latency_max_ms: l('redis_client_latency_max_ms'),
    redis_latency_samples: l('redis_client_latency_samples'),
    redis_keys: l('redis_server_keys'),
    redis_state_bytes: l('redis_client_state_bytes'),
    redis_verify_lag_keys: l('redis_client_verify_lag_keys'),
    redis_commands_processed: l('redis_server_commands_processed_total'),
  };
}

export const redis: Workload = {
  name: 'redis',
  description: "Debian's redis-server (persistence off) and a RESP client writing sequence-numbered keys and reading them back",
  image: () => REDIS_IMAGE,
  bundles: ['redis-client.mjs'],
  imageSources: [{ path: REDIS_BINARY, hint: "Debian's package redis-server (apt-get install redis-server)" }],
  ensureImage: (host, image, o) =>
    ensureBinaryImage(host, {
      image,
      binary: REDIS_BINARY,
      as: '/usr/local/bin/redis-server',
      workDir: o.workDir,
      log: o.log,
      dryRun: o.dryRun,
    }),
  serverArgs: (c) => [
    '--port',
    String(c.SIGNALING_PORT),
    '--bind',
    '0.0.0.0',
    '--protected-mode',
    'no',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    '/data',
  ],
  health: (c) => ({
    kind: 'command',
    what: `redis PING at ${serviceIp(c)}:${c.SIGNALING_PORT}`,
    cmd: pingCmd(serviceIp(c), c.SIGNALING_PORT),
  }),
  client: {
    bundle: 'redis-client.mjs',
    args: redisClientArgs,
    connectedMetric: 'redis_client_connected',
    describe: (c) =>
      `redis ${serviceIp(c)}:${c.SIGNALING_PORT} (${c.LOADGEN_CONNECTIONS} connections, ${c.LOADGEN_FPS} ticks/s each${c.STATE_MB ? `, ${c.STATE_MB} MB preloaded` : ''})`,
  },
  serverMetrics: false,
  collectorArgs: ['--workload', 'redis'],
  columns: [...CSV_COLUMNS, ...REDIS_COLUMNS],
  row: redisRow,
  progressColumn: 'redis_writes_acked',
  figures(rows) {
    const p50s = rows.map((r) => r.v.redis_latency_p50_ms).filter((x): x is number => x !== null && x !== undefined);
    return [
      { key: 'writes_acked', label: 'writes acknowledged', value: columnLast(rows, 'redis_writes_acked') },
      { key: 'reads_verified', label: 'reads verified', value: columnLast(rows, 'redis_reads_verified') },
      {
        key: 'lost_writes',
        label: 'lost writes',
        value: columnLast(rows, 'redis_lost_writes'),
        per_migration: { column: 'redis_lost_writes', kind: 'counter' },
      },
      {
        key: 'stale_reads',
        label: 'stale reads',
        value: columnLast(rows, 'redis_stale_reads'),
        per_migration: { column: 'redis_stale_reads', kind: 'counter' },
      },
      {
        key: 'failed_commands',
        label: 'failed commands',
        value: columnLast(rows, 'redis_failed_commands'),
        per_migration: { column: 'redis_failed_commands', kind: 'counter' },
      },
      {
        key: 'reconnects',
        label: 'reconnects',
        value: columnLast(rows, 'redis_reconnects'),
        per_migration: { column: 'redis_reconnects', kind: 'counter' },
      },
      {
        key: 'latency_p50_median_ms',
        label: 'command latency p50 (median over seconds)',
        value: percentile(p50s, 0.5),
        unit: 'ms',
      },
      {
        key: 'latency_p99_max_ms',
        label: 'command latency p99 (worst second)',
        value: columnMax(rows, 'redis_latency_p99_ms'),
        unit: 'ms',
      },
      {
        key: 'latency_max_ms',
        label: 'command latency max',
        value: columnMax(rows, 'redis_latency_max_ms'),
        unit: 'ms',
        per_migration: { column: 'redis_latency_max_ms', kind: 'max' },
      },
      { key: 'state_bytes', label: 'preloaded state', value: columnLast(rows, 'redis_state_bytes'), unit: 'B' },
    ];
  },
  plots: [
    {
      name: 'latency',
      title: 'redis command latency (client, per second)',
      yTitle: 'latency (ms, log)',
      log: true,
      columns: {
        redis_latency_p50_ms: 'p50',
        redis_latency_p95_ms: 'p95',
        redis_latency_p99_ms: 'p99',
        redis_latency_max_ms: 'max',
      },
    },
    {
      name: 'checks',
      title: 'redis writes and read-backs (cumulative)',
      yTitle: 'count',
      columns: {
        redis_writes_acked: 'writes acknowledged',
        redis_reads_verified: 'reads verified',
        redis_lost_writes: 'lost writes',
        redis_stale_reads: 'stale reads',
        redis_failed_commands: 'failed commands',
        redis_reconnects: 'reconnects',
      },
    },
  ],
  lossless(f) {
    const v = (k: string) => f.find((x) => x.key === k)?.value ?? null;
    const [acked, lost, stale, rec] = [v('writes_acked'), v('lost_writes'), v('stale_reads'), v('reconnects')];
    if (acked === null || lost === null || stale === null || rec === null)
      return { ok: null, why: 'redis client counters not in metrics.csv' };
    if (acked === 0) return { ok: null, why: 'no write was acknowledged: nothing to check' };
    return {
      ok: lost === 0 && stale === 0 && rec === 0,
      why: `${acked} writes acknowledged, ${lost} lost, ${stale} stale, ${rec} reconnects`,
    };
  },
};
