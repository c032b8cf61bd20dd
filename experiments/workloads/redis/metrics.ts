// The redis load client's Prometheus text: its counters, the interval's latency percentiles and
// the server's INFO figures (served by client.ts on /metrics).
import { summarize } from '../../workload/rttstats.ts';
import type { Counters } from './load.ts';

const num = (v: string | undefined) => (v === undefined || v === '' ? NaN : Number(v));

/** Prometheus text of the client's counters, this interval's latency percentiles and the server's INFO figures. */
export function metricsText(k: Counters, latencies: number[], info: Record<string, string>, connections: number): string {
  const s = summarize(latencies);
  const keys = /keys=(\d+)/.exec(info.db0 ?? '')?.[1];
  const m: [string, string, number][] = [
    ['redis_client_connections', 'gauge', connections],
    ['redis_client_connected', 'gauge', Math.min(k.connected, connections)],
    ['redis_client_writes_acked_total', 'counter', k.writes_acked],
    ['redis_client_reads_verified_total', 'counter', k.reads_verified],
    ['redis_client_failed_commands_total', 'counter', k.failed_commands],
    ['redis_client_lost_writes_total', 'counter', k.lost_writes],
    ['redis_client_stale_reads_total', 'counter', k.stale_reads],
    ['redis_client_reconnects_total', 'counter', k.reconnects],
    ['redis_client_verify_lag_keys', 'gauge', k.verify_lag],
    ['redis_client_state_bytes', 'gauge', k.state_bytes],
    ['redis_client_latency_avg_ms', 'gauge', s.avg],
    ['redis_client_latency_p50_ms', 'gauge', s.p50],
    ['redis_client_latency_p95_ms', 'gauge', s.p95],
    ['redis_client_latency_p99_ms', 'gauge', s.p99],
    ['redis_client_latency_max_ms', 'gauge', s.max],
    ['redis_client_latency_samples', 'gauge', s.count],
    ['redis_server_connected_clients', 'gauge', num(info.connected_clients)],
    ['redis_server_connections_received_total', 'counter', num(info.total_connections_received)],
    ['redis_server_net_input_bytes_total', 'counter', num(info.total_net_input_bytes)],
    ['redis_server_net_output_bytes_total', 'counter', num(info.total_net_output_bytes)],
    ['redis_server_uptime_seconds', 'gauge', num(info.uptime_in_seconds)],
    ['redis_server_used_memory_bytes', 'gauge', num(info.used_memory)],
    ['redis_server_commands_processed_total', 'counter', num(info.total_commands_processed)],
    ['redis_server_keys', 'gauge', num(keys)],
  ];
  return m.map(([name, type, v]) => `# TYPE ${name} ${type}\n${name} ${Number.isFinite(v) ? v : 'NaN'}`).join('\n') + '\n';
}
