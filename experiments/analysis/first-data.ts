// When data flowed again after each switch update, as the load generator saw it: its
// `first-data-after-gap … at_ns=` lines (one per connection whose frames stopped for longer than
// --gap-log) placed against each migration's switch_update_done_ns. Both clocks are the
// migration's nowNs: the same machine on the local testbed; on hardware the load generator runs on
// lakewood, so the figure includes the offset between its clock and the control machine's.
import { readFileSync, writeFileSync } from 'node:fs';

export interface GapEvent {
  conn: number;
  seq: number;
  gapMs: number;
  atNs: bigint;
}

/**
 * `what`: 'data' = server→client frames resuming; 'pong' = client requests answered again — the
 * stream load generator's pongs and the redis client's replies (`first-reply-after-gap`).
 */
export function parseGapEvents(log: string, what: 'data' | 'pong' = 'data'): GapEvent[] {
  const out: GapEvent[] = [];
  const re = new RegExp(
    `first-${what === 'pong' ? '(?:pong|reply)' : what}-after-gap conn=(\\d+) seq=(\\d+) gap_ms=(\\d+(?:\\.\\d+)?)(?: rtt_ms=\\S+)? at_ns=(\\d+)`,
    'g',
  );
  for (const m of log.matchAll(re)) {
    out.push({ conn: Number(m[1]), seq: Number(m[2]), gapMs: Number(m[3]), atNs: BigInt(m[4]) });
  }
  return out;
}

export interface FirstData {
  /** ms from the switch update to the first frame on any connection (can be < 0 by µs: data may beat the HTTP answer). */
  first_data_after_switch_ms: number;
  /** ms until the last stalled connection got data again. */
  last_connection_data_after_switch_ms: number;
  /** connections whose stall spanned the switch update. */
  stalled_connections: number;
}

/**
 * The gap events of one migration: those whose stall covers the switch update (the gap began
 * before it, the data came after the migration started). Undefined when no connection stalled.
 */
export function firstDataAfterSwitch(events: GapEvent[], startNs: bigint, switchDoneNs: bigint): FirstData | undefined {
  const firstPerConn = new Map<number, bigint>();
  for (const e of events) {
    const gapStart = e.atNs - BigInt(Math.round(e.gapMs * 1e6));
    if (e.atNs < startNs || gapStart > switchDoneNs) continue;
    const prev = firstPerConn.get(e.conn);
    if (prev === undefined || e.atNs < prev) firstPerConn.set(e.conn, e.atNs);
  }
  if (!firstPerConn.size) return undefined;
  const ms = [...firstPerConn.values()].map((at) => Number(at - switchDoneNs) / 1e6);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    first_data_after_switch_ms: round(Math.min(...ms)),
    last_connection_data_after_switch_ms: round(Math.max(...ms)),
    stalled_connections: ms.length,
  };
}

/** The RTO stall: pongs (client→server pings answered) resuming after the switch update, in ms. */
export interface PongStall {
  first_pong_after_switch_ms: number;
  last_pong_after_switch_ms: number;
  pong_stalled_connections: number;
}

/**
 * Pings sent into the freeze are retransmitted by the client's TCP on its backed-off timer, so the
 * first pong after the switch update measures the stall (data frames, server→client, are new
 * data of the restored socket and flow at once).
 */
export function pongStall(pongs: GapEvent[], startNs: bigint, switchDoneNs: bigint): PongStall | undefined {
  const fd = firstDataAfterSwitch(pongs, startNs, switchDoneNs);
  return (
    fd && {
      first_pong_after_switch_ms: fd.first_data_after_switch_ms,
      last_pong_after_switch_ms: fd.last_connection_data_after_switch_ms,
      pong_stalled_connections: fd.stalled_connections,
    }
  );
}

/**
 * Add the figures to each migration_timing_<i>.json that lacks them (idempotent); returns how many
 * files were completed. Files without the ns marks (bash-era runs) are left alone.
 */
export function addFirstDataToTimings(loadgenLog: string, timingFiles: string[]): number {
  const events = parseGapEvents(loadgenLog);
  const pongs = parseGapEvents(loadgenLog, 'pong');
  if (!events.length && !pongs.length) return 0;
  let n = 0;
  for (const f of timingFiles) {
    const t = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
    if (t.first_data_after_switch_ms !== undefined || t.first_pong_after_switch_ms !== undefined) continue;
    const start = t.migration_start_ns;
    const sw = t.switch_update_done_ns;
    if ((typeof start !== 'string' && typeof start !== 'number') || (typeof sw !== 'string' && typeof sw !== 'number')) continue;
    const fd = firstDataAfterSwitch(events, BigInt(start), BigInt(sw));
    const st = pongStall(pongs, BigInt(start), BigInt(sw));
    if (!fd && !st) continue;
    writeFileSync(f, JSON.stringify({ ...t, ...fd, ...(fd ? { first_data_source: 'loadgen' } : {}), ...st }, null, 2) + '\n');
    n++;
  }
  return n;
}
