// Timing of one migration: the instants the orchestrator records, and the derived figures
// with the keys of the original bash timing file (migration_timing_<i>.txt), so runs of both
// versions can be compared by the same analysis.

/** Nanoseconds since the epoch on the control machine's clock (the collector's clock too). */
export function nowNs(): bigint {
  // performance.timeOrigin + now() keeps sub-millisecond resolution, Date.now() alone would not.
  const ms = performance.timeOrigin + performance.now();
  return BigInt(Math.round(ms * 1e6));
}

/** Instants of one migration, in ns (see nowNs). Optional ones are absent when a step did not run. */
export interface MigrationMarks {
  start: bigint; // migration begins (before target preparation and quiesce)
  quiesced?: bigint; // server paused (SIGUSR2 sent)
  drained?: bigint; // send queues empty (or drain timed out)
  checkpointDone: bigint; // podman checkpoint --export returned
  transferStart: bigint; // data starts to flow to the target
  transferEnd: bigint; // bytes arrived on the target
  transferDone: bigint; // size verified (or verification skipped)
  sourceStopStart: bigint; // removing the source container
  sourceStopDone: bigint;
  restoreStart: bigint; // podman container restore begins
  restoreDone: bigint; // restored, network fixed, server resumed
  switchDone: bigint; // POST /updateForward answered
  end: bigint; // post-switch steps done
}

export interface MigrationMeta {
  sourceNode: string;
  targetNode: string;
  serverIp: string;
  targetSwPort: number;
  transferMethod: string;
  checkpointSizeBytes: number;
}

/** Keys of the original timing file, in its order. */
export const TIMING_KEYS = [
  'migration_start_ns',
  'checkpoint_done_ns',
  'transfer_done_ns',
  'restore_done_ns',
  'switch_update_done_ns',
  'migration_end_ns',
  'total_ms',
  'checkpoint_ms',
  'transfer_ms',
  'restore_ms',
  'switch_ms',
  'checkpoint_size_bytes',
  'source_node',
  'target_node',
  'server_ip',
  'target_sw_port',
  'transfer_method',
  'pre_transfer_ms',
  'post_transfer_ms',
  'pre_restore_ms',
  'post_switch_ms',
  'source_stop_ms',
  'time_to_ready_ms',
] as const;

export type TimingKey = (typeof TIMING_KEYS)[number];
/** ns instants are kept as decimal strings: they exceed Number's exact integer range. */
export type MigrationTiming = Record<TimingKey, string | number> & Record<string, string | number>;

const ms = (from: bigint, to: bigint): number => {
  if (to < from) throw new Error(`timing marks out of order: ${to} ns is before ${from} ns`);
  // three decimals: microsecond resolution is plenty and keeps files readable
  return Math.round(Number(to - from) / 1e3) / 1e3;
};

/**
 * Derive the original keys (plus a few extra ones for the JSON) from the instants.
 * Phase boundaries follow the published report: checkpoint = quiesce + drain + dump,
 * restore includes the network fix-up and the resume, switch = the controller call,
 * time_to_ready = start → switch update (the client-visible downtime).
 */
export function computeTiming(m: MigrationMarks, meta: MigrationMeta): MigrationTiming {
  const order: [string, bigint][] = [
    ['start', m.start],
    ['checkpointDone', m.checkpointDone],
    ['transferDone', m.transferDone],
    ['restoreDone', m.restoreDone],
    ['switchDone', m.switchDone],
    ['end', m.end],
  ];
  for (let i = 1; i < order.length; i++) {
    if (order[i][1] < order[i - 1][1]) {
      throw new Error(
        `timing marks out of order: ${order[i][0]} (${order[i][1]}) is before ${order[i - 1][0]} (${order[i - 1][1]})`,
      );
    }
  }
  const t: MigrationTiming = {
    migration_start_ns: m.start.toString(),
    checkpoint_done_ns: m.checkpointDone.toString(),
    transfer_done_ns: m.transferDone.toString(),
    restore_done_ns: m.restoreDone.toString(),
    switch_update_done_ns: m.switchDone.toString(),
    migration_end_ns: m.end.toString(),
    total_ms: ms(m.start, m.end),
    checkpoint_ms: ms(m.start, m.checkpointDone),
    transfer_ms: ms(m.checkpointDone, m.transferDone),
    restore_ms: ms(m.transferDone, m.restoreDone),
    switch_ms: ms(m.restoreDone, m.switchDone),
    checkpoint_size_bytes: meta.checkpointSizeBytes,
    source_node: meta.sourceNode,
    target_node: meta.targetNode,
    server_ip: meta.serverIp,
    target_sw_port: meta.targetSwPort,
    transfer_method: meta.transferMethod,
    pre_transfer_ms: ms(m.checkpointDone, m.transferStart),
    post_transfer_ms: ms(m.transferEnd, m.transferDone),
    pre_restore_ms: ms(m.transferDone, m.restoreStart),
    post_switch_ms: ms(m.switchDone, m.end),
    source_stop_ms: ms(m.sourceStopStart, m.sourceStopDone),
    time_to_ready_ms: ms(m.start, m.switchDone),
  };
  if (m.quiesced !== undefined) t.quiesce_ms = ms(m.start, m.quiesced);
  if (m.quiesced !== undefined && m.drained !== undefined) t.drain_ms = ms(m.quiesced, m.drained);
  if (m.drained !== undefined) t.dump_ms = ms(m.drained, m.checkpointDone);
  t.transfer_wire_ms = ms(m.transferStart, m.transferEnd);
  return t;
}

/** key=value lines with exactly the original keys, in order (the bash analysis reads these). */
export function formatTimingTxt(t: MigrationTiming): string {
  return (
    TIMING_KEYS.map((k) => {
      if (t[k] === undefined) throw new Error(`timing record lacks key ${k}`);
      return `${k}=${t[k]}`;
    }).join('\n') + '\n'
  );
}
