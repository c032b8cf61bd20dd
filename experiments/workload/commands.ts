// Command lines of the workload programs, derived from the config in one place so the phases (and
// the build phase that starts the server container) agree on ports and rates.
import type { Config } from '../../lib/config/keys.ts';
import { serviceIp } from '../../lib/server/backend.ts';

/** Arguments after the image's entrypoint (`node /app/stream-server.mjs`). */
export function serverArgs(
  c: Pick<Config, 'SIGNALING_PORT' | 'METRICS_PORT' | 'LOADGEN_FPS' | 'FRAME_PADDING' | 'STATE_MB'>,
): string[] {
  return [
    '--port',
    String(c.SIGNALING_PORT),
    '--metrics-port',
    String(c.METRICS_PORT),
    '--fps',
    String(c.LOADGEN_FPS),
    '--padding',
    String(c.FRAME_PADDING),
    ...(c.STATE_MB ? ['--state-mb', String(c.STATE_MB)] : []),
  ];
}

/** Arguments of dist/remote/loadgen.mjs on lakewood: straight to the server (same-ip) or to the VIP (vip) through the shim. */
export function loadgenArgs(
  c: Pick<
    Config,
    | 'MIGRATION_MODE'
    | 'VIP'
    | 'H2_IP'
    | 'SIGNALING_PORT'
    | 'LOADGEN_CONNECTIONS'
    | 'LOADGEN_RAMP'
    | 'LOADGEN_METRICS_PORT'
    | 'RTT_CAP'
  >,
): string[] {
  return [
    '--url',
    `ws://${serviceIp(c)}:${c.SIGNALING_PORT}/`,
    '--connections',
    String(c.LOADGEN_CONNECTIONS),
    '--ramp',
    `${c.LOADGEN_RAMP}ms`,
    '--metrics-port',
    String(c.LOADGEN_METRICS_PORT),
    '--metrics-listen',
    '127.0.0.1',
    '--rtt-cap',
    `${c.RTT_CAP}ms`,
  ];
}

/** Arguments of the collector (after `node --import tsx experiments/workload/collector.ts`). */
export function collectorArgs(
  c: Pick<Config, 'SSH_TUNNEL_METRICS_PORT' | 'SSH_TUNNEL_LOCAL_PORT' | 'METRICS_INTERVAL'>,
  files: { csv: string; mark: string; log: string },
): string[] {
  return [
    '--server',
    `http://127.0.0.1:${c.SSH_TUNNEL_METRICS_PORT}/metrics`,
    '--loadgen',
    `http://127.0.0.1:${c.SSH_TUNNEL_LOCAL_PORT}/metrics`,
    '--interval',
    String(c.METRICS_INTERVAL),
    '--out',
    files.csv,
    '--mark',
    files.mark,
    '--log',
    files.log,
  ];
}
