// Turns a loaded run into the figures of summary.json. Every statistic goes through lib/stats.
import { describe, mean, type Describe } from '../../lib/analysis/stats.ts';
import { linksOf, type LinkSummary } from './links.ts';
import { modeOf, type ModeSummary } from './mode.ts';
import type { RunData } from './load.ts';
import { PUBLISHED } from './published.ts';
import { WORKLOADS } from '../workloads/index.ts';
import type { Figure, Workload } from '../workloads/types.ts';
import {
  counterDelta,
  counterNet,
  counterTotal,
  firstDataFromMetrics,
  migrationSpans,
  numOrNull,
  rttValue,
  type Span,
} from './timeline.ts';

// The counters' definitions are part of what summary.json means, so they stay importable from here.
export { counterNet, counterTotal, type Span } from './timeline.ts';

export const PHASE_KEYS = [
  'checkpoint_ms',
  'transfer_ms',
  'restore_ms',
  'switch_ms',
  'total_ms',
  'pre_transfer_ms',
  'post_transfer_ms',
  'pre_restore_ms',
  'post_switch_ms',
  'source_stop_ms',
] as const;
export const MAIN_PHASES = ['checkpoint_ms', 'transfer_ms', 'restore_ms', 'switch_ms'] as const;
export const COUNTER_COLUMNS = [
  'frames_lost',
  'frames_duplicated',
  'frames_reordered',
  'pings_unanswered',
  'pongs_late',
  'rtts_over_cap',
] as const;
/**
 * Counters that go down as well as up: a ping counts as unanswered once its pong window passed and
 * stops counting when its pong arrives late. Their figure is the net change (answered by the end
 * or never), the load generator's own definition — not the peak that max − min would report.
 */
const NET_COUNTERS: ReadonlySet<string> = new Set(['pings_unanswered']);
/** Window after each switch update in which "RTT after migration" is measured. */
export const RECOVERY_WINDOW_S = 5;

export interface MigrationSummary {
  index: number;
  source_node: string | null;
  target_node: string | null;
  time_to_ready_ms: number | null;
  checkpoint_ms: number | null;
  transfer_ms: number | null;
  restore_ms: number | null;
  switch_ms: number | null;
  total_ms: number | null;
  checkpoint_size_bytes: number | null;
  start_s: number | null;
  end_s: number | null;
  switch_s: number | null;
  /** Counter increase from this migration's start to the next one's (or the end of the run). */
  window: Record<(typeof COUNTER_COLUMNS)[number] | 'connection_drops', number | null>;
  rtt_after: { n: number; mean_ms: number | null; max_ms: number | null };
  first_data_after_switch_ms: number | null;
  /** The RTO stall: first / last connection's first pong after the switch update (load generator log). */
  first_pong_after_switch_ms: number | null;
  last_pong_after_switch_ms: number | null;
  /** MIGRATION_ENGINE=lazy: when the last memory page reached the target, from the migration's start. */
  lazy_pages_done_ms: number | null;
}

export interface Summary {
  run: {
    dir: string;
    name: string;
    format: 'p4cf' | 'bash';
    migrations: number;
    metrics_rows: number;
    duration_s: number | null;
    extra_columns: string[];
  };
  downtime_ms: Describe;
  downtime_source: string;
  phases_ms: Record<(typeof PHASE_KEYS)[number], Describe>;
  /** Other *_ms keys of the timing files (e.g. quiesce_ms, drain_ms, dump_ms in p4cf JSON). */
  extra_phases_ms: Record<string, Describe>;
  checkpoint_size_bytes: Describe;
  connection_drops: number | null;
  counters: Record<(typeof COUNTER_COLUMNS)[number], { total: number | null; per_migration: Array<number | null> }>;
  rtt: {
    steady: Describe;
    after_migration: Describe;
    /** after_migration.mean / steady.mean */
    after_over_steady: number | null;
    window_s: number;
  };
  first_data_after_switch_ms: { source: 'timing' | 'metrics' | 'mixed' | 'none'; stats: Describe };
  /** The workload's own figures and its lossless verdict (experiments/workloads), null if unknown. */
  workload: {
    name: string;
    figures: Figure[];
    lossless: { ok: boolean | null; why: string };
    /** Per migration span (its start → the next one's): the figures that have per_migration, by key. */
    per_migration: Array<Record<string, number | null>>;
  } | null;
  /** Pings (client→server) answered again after the switch update: the RTO stall, per migration the slowest connection. */
  pong_stall_ms: Describe;
  migrations: MigrationSummary[];
  spans: Span[];
  published: typeof PUBLISHED;
  /** same-ip or vip, and the backend addresses of each migration (mode.ts). */
  mode: ModeSummary;
  /** Link emulation of the run and the transfers it shaped (links.ts); null when none. */
  links: LinkSummary | null;
  notes: string[];
}

const strOrNull = (v: number | string | undefined): string | null => (v === undefined || v === '' ? null : String(v));

export function computeSummary(run: RunData): Summary {
  const notes = [...run.notes];
  // runs from before WORKLOAD existed (and bash-format runs) are stream runs
  const wname = String(run.config.WORKLOAD?.value ?? 'stream');
  const w = (WORKLOADS as Record<string, Workload>)[wname];
  if (!w) notes.push(`WORKLOAD=${wname}: no such workload in experiments/workloads; its own figures are not computed`);
  const rows = run.metrics?.rows ?? [];
  const has = (col: string) => run.metrics?.columns.includes(col) ?? false;
  const spans = migrationSpans(run, notes);
  const spanOf = new Map(spans.map((s) => [s.index, s]));
  const lastElapsed = rows.length ? rows[rows.length - 1].elapsed : Infinity;

  let derivedDowntime = 0;
  const downtimes: Array<number | null> = run.timings.map((t) => {
    const v = numOrNull(t.values.time_to_ready_ms);
    if (v !== null) return v;
    if (t.ms.start !== null && t.ms.switchDone !== null) {
      derivedDowntime++;
      return t.ms.switchDone - t.ms.start;
    }
    return null;
  });
  if (derivedDowntime > 0)
    notes.push(`time_to_ready_ms missing in ${derivedDowntime} timing file(s): used switch_update_done_ns − migration_start_ns`);

  const firstDataSources = new Set<'timing' | 'metrics'>();
  const migrations: MigrationSummary[] = run.timings.map((t, i) => {
    const span = spanOf.get(t.index) ?? null;
    const next = spans.find((s) => span && s.start_s > span.start_s);
    const windowEnd = next ? next.start_s : lastElapsed + 1;
    const window = Object.fromEntries(
      [...COUNTER_COLUMNS, 'connection_drops'].map((c) => [
        c,
        span && has(c) ? counterDelta(rows, c, span.start_s, windowEnd) : null,
      ]),
    ) as MigrationSummary['window'];
    const after = span?.switch_s ?? span?.end_s ?? null;
    const afterRows = after === null ? [] : rows.filter((r) => r.elapsed > after && r.elapsed <= after + RECOVERY_WINDOW_S);
    const afterRtt = afterRows.map((r) => rttValue(r)).filter((v): v is number => v !== null);
    const afterMax = afterRows.map((r) => rttValue(r, 'ws_rtt_max_ms')).filter((v): v is number => v !== null);
    let firstData = numOrNull(t.values.first_data_after_switch_ms);
    if (firstData !== null) firstDataSources.add('timing');
    else if (span?.switch_s != null && rows.length) {
      firstData = firstDataFromMetrics(rows, span.switch_s, windowEnd, w?.progressColumn);
      if (firstData !== null) firstDataSources.add('metrics');
    }
    return {
      index: t.index,
      source_node: strOrNull(t.values.source_node),
      target_node: strOrNull(t.values.target_node),
      time_to_ready_ms: downtimes[i],
      checkpoint_ms: numOrNull(t.values.checkpoint_ms),
      transfer_ms: numOrNull(t.values.transfer_ms),
      restore_ms: numOrNull(t.values.restore_ms),
      switch_ms: numOrNull(t.values.switch_ms),
      total_ms: numOrNull(t.values.total_ms),
      checkpoint_size_bytes: numOrNull(t.values.checkpoint_size_bytes),
      start_s: span?.start_s ?? null,
      end_s: span?.end_s ?? null,
      switch_s: span?.switch_s ?? null,
      window,
      rtt_after: { n: afterRtt.length, mean_ms: mean(afterRtt), max_ms: afterMax.length ? Math.max(...afterMax) : null },
      first_data_after_switch_ms: firstData,
      first_pong_after_switch_ms: numOrNull(t.values.first_pong_after_switch_ms),
      last_pong_after_switch_ms: numOrNull(t.values.last_pong_after_switch_ms),
      lazy_pages_done_ms: numOrNull(t.values.lazy_pages_done_ms),
    };
  });
  const silent = migrations.filter((m) => m.first_data_after_switch_ms === null && m.switch_s !== null && rows.length > 0);
  if (silent.length) {
    notes.push(
      `no data reached the load generator after the switch update of migration(s) ${silent.map((m) => m.index).join(', ')}` +
        ` (up to the next migration or the end of metrics.csv): the ${w?.name ?? 'stream'} workload did not resume`,
    );
  }
  if (firstDataSources.has('metrics'))
    notes.push('time from switch update to first data measured from metrics rows: resolution is the scrape interval');

  const firstStart = spans.length ? Math.min(...spans.map((s) => s.start_s)) : Infinity;
  const steadyRtt = rows.filter((r) => r.elapsed < firstStart).map((r) => rttValue(r));
  const afterAll: number[] = [];
  for (const s of spans) {
    const from = s.switch_s ?? s.end_s;
    for (const r of rows)
      if (r.elapsed > from && r.elapsed <= from + RECOVERY_WINDOW_S) {
        const v = rttValue(r);
        if (v !== null) afterAll.push(v);
      }
  }
  const steady = describe(steadyRtt);
  const afterMigration = describe(afterAll);
  if (rows.length && spans.length && steady.n === 0) notes.push('no RTT samples before the first migration: steady RTT unknown');

  const counters = Object.fromEntries(
    COUNTER_COLUMNS.map((c) => [
      c,
      {
        total: has(c) ? (NET_COUNTERS.has(c) ? counterNet(rows, c) : counterTotal(rows, c)) : null,
        per_migration: migrations.map((m) => m.window[c]),
      },
    ]),
  ) as Summary['counters'];
  if (run.metrics && !has('frames_lost'))
    notes.push('metrics.csv has no frames_* / pings_* columns (bash-format run): frames lost not measured');

  const phases = Object.fromEntries(
    PHASE_KEYS.map((k) => [k, describe(run.timings.map((t) => numOrNull(t.values[k])))]),
  ) as Summary['phases_ms'];
  const known = new Set<string>([
    ...PHASE_KEYS,
    'time_to_ready_ms',
    'first_data_after_switch_ms',
    'first_pong_after_switch_ms',
    'last_pong_after_switch_ms',
    'last_connection_data_after_switch_ms',
  ]);
  const extraKeys = [...new Set(run.timings.flatMap((t) => Object.keys(t.values)))]
    .filter((k) => k.endsWith('_ms') && !known.has(k) && run.timings.some((t) => typeof t.values[k] === 'number'))
    .sort();
  const extraPhases = Object.fromEntries(extraKeys.map((k) => [k, describe(run.timings.map((t) => numOrNull(t.values[k])))]));
  const fdValues = migrations.map((m) => m.first_data_after_switch_ms);
  const fdSource = firstDataSources.size === 0 ? 'none' : firstDataSources.size === 2 ? 'mixed' : [...firstDataSources][0];

  const wfigures = w && rows.length ? w.figures(rows) : [];
  const perMigration = spans.map((sp) => {
    const next = spans.find((x) => x.start_s > sp.start_s);
    const to = next ? next.start_s : lastElapsed + 1;
    return Object.fromEntries(
      wfigures
        .filter((f) => f.per_migration)
        .map((f) => {
          const { column, kind } = f.per_migration!;
          if (!has(column)) return [f.key, null];
          if (kind === 'counter') return [f.key, counterDelta(rows, column, sp.start_s, to)];
          const xs = rows
            .filter((r) => r.elapsed > sp.start_s && r.elapsed < to)
            .map((r) => r.v[column])
            .filter((v): v is number => v != null);
          return [f.key, xs.length ? Math.max(...xs) : null];
        }),
    );
  });
  const workload = w
    ? {
        name: wname,
        figures: wfigures,
        lossless: rows.length ? w.lossless(wfigures) : { ok: null, why: 'no metrics rows' },
        per_migration: perMigration,
      }
    : null;
  const own = new Set<string>(w?.columns ?? []);

  return {
    mode: modeOf(run),
    links: linksOf(run),
    run: {
      dir: run.dir,
      name: run.name,
      format: run.format,
      migrations: run.timings.length,
      metrics_rows: rows.length,
      duration_s: rows.length > 1 ? rows[rows.length - 1].elapsed - rows[0].elapsed : null,
      extra_columns: (run.metrics?.extraColumns ?? []).filter((c) => !own.has(c)),
    },
    workload,
    downtime_ms: describe(downtimes),
    downtime_source: 'time_to_ready_ms per migration (migration start → switch update done)',
    phases_ms: phases,
    extra_phases_ms: extraPhases,
    checkpoint_size_bytes: describe(run.timings.map((t) => numOrNull(t.values.checkpoint_size_bytes))),
    connection_drops: has('connection_drops') ? counterTotal(rows, 'connection_drops') : null,
    counters,
    rtt: {
      steady,
      after_migration: afterMigration,
      after_over_steady: steady.mean && afterMigration.mean !== null ? afterMigration.mean / steady.mean : null,
      window_s: RECOVERY_WINDOW_S,
    },
    first_data_after_switch_ms: { source: fdSource, stats: describe(fdValues) },
    pong_stall_ms: describe(migrations.map((m) => m.last_pong_after_switch_ms)),
    migrations,
    spans,
    published: PUBLISHED,
    notes,
  };
}
