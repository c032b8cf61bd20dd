// The run's time axis and what is read along it: migrations placed as spans on the metrics' elapsed
// seconds, and the increase of cumulative counters (and the first data after a switch update) over them.
import type { MetricsRow, RunData } from './load.ts';

/** One migration placed on the metrics time axis (seconds, same axis as elapsed_s). */
export interface Span {
  index: number;
  start_s: number;
  end_s: number;
  /** When the switch update completed (downtime ends), null if unknown. */
  switch_s: number | null;
  from: 'timing' | 'migration_event';
}

export const numOrNull = (v: number | string | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

/** RTT columns report 0 when no echo arrived during a scrape interval: that is "no sample", not 0 ms. */
export const rttValue = (r: MetricsRow, col = 'ws_rtt_avg_ms'): number | null => {
  const v = r.v[col];
  return v != null && v > 0 ? v : null;
};

/** Maps unix ms onto the metrics' elapsed-seconds axis. */
export function timeAxis(run: RunData): ((unixMs: number) => number) | null {
  const rows = run.metrics?.rows ?? [];
  const anchor = rows.find((r) => Number.isFinite(r.t) && Number.isFinite(r.elapsed));
  if (anchor) return (ms) => anchor.elapsed + (ms - anchor.t) / 1000;
  const first = run.timings.map((t) => t.ms.start).find((v): v is number => v !== null);
  return first === undefined ? null : (ms) => (ms - first) / 1000;
}

export function migrationSpans(run: RunData, notes: string[] = []): Span[] {
  const axis = timeAxis(run);
  const spans: Span[] = [];
  for (const t of run.timings) {
    if (!axis || t.ms.start === null) continue;
    const endMs =
      t.ms.end ?? t.ms.switchDone ?? (numOrNull(t.values.total_ms) !== null ? t.ms.start + (t.values.total_ms as number) : null);
    if (endMs === null) continue;
    spans.push({
      index: t.index,
      start_s: axis(t.ms.start),
      end_s: axis(endMs),
      switch_s: t.ms.switchDone === null ? null : axis(t.ms.switchDone),
      from: 'timing',
    });
  }
  if (spans.length > 0) return spans;
  // Without timestamps, the collector's migration_event rows mark the tick after each migration ended.
  const rows = run.metrics?.rows ?? [];
  const events = rows.filter((r) => r.v.migration_event === 1);
  if (events.length === 0) return spans;
  notes.push('migration spans placed from migration_event rows (no timing timestamps): start is approximate');
  events.forEach((r, i) => {
    const timing = run.timings[i];
    const dur = timing ? (numOrNull(timing.values.total_ms) ?? numOrNull(timing.values.time_to_ready_ms)) : null;
    const idx = rows.indexOf(r);
    const start = dur !== null ? r.elapsed - dur / 1000 : idx > 0 ? rows[idx - 1].elapsed : r.elapsed - 1;
    spans.push({ index: timing?.index ?? i + 1, start_s: start, end_s: r.elapsed, switch_s: null, from: 'migration_event' });
  });
  return spans;
}

/** Last non-null value of a column among rows with elapsed ≤ at. */
function valueAtOrBefore(rows: MetricsRow[], col: string, at: number): number | null {
  let out: number | null = null;
  for (const r of rows) {
    if (r.elapsed > at) break;
    const v = r.v[col];
    if (v != null) out = v;
  }
  return out;
}

/** Increase of a cumulative counter from `from` to just before `to`; null when there is no data. */
export function counterDelta(rows: MetricsRow[], col: string, from: number, to: number): number | null {
  let base = valueAtOrBefore(rows, col, from);
  let last: number | null = null;
  for (const r of rows) {
    if (r.elapsed >= to) break;
    const v = r.v[col];
    if (v == null) continue;
    if (r.elapsed > from && base === null) base = v; // no row before the window: start from its first row
    if (r.elapsed > from) last = v;
  }
  if (base === null) return null;
  return last === null ? 0 : last - base;
}

/** Last − first value of a column that may also decrease (see NET_COUNTERS in summary.ts). */
export function counterNet(rows: MetricsRow[], col: string): number | null {
  const xs = rows.map((r) => r.v[col]).filter((v): v is number => v != null);
  return xs.length === 0 ? null : Math.max(0, xs[xs.length - 1] - xs[0]);
}

/** max − min of a cumulative column (a restart of the counter does not turn it negative). */
export function counterTotal(rows: MetricsRow[], col: string): number | null {
  const xs = rows.map((r) => r.v[col]).filter((v): v is number => v != null);
  return xs.length === 0 ? null : Math.max(...xs) - Math.min(...xs);
}

/** First row after the switch update where the workload's progress column (frames_received for
 * the stream) increased (or, lacking it, an RTT arrived). */
export function firstDataFromMetrics(
  rows: MetricsRow[],
  switchS: number,
  untilS: number,
  col = 'frames_received',
): number | null {
  const hasFrames = rows.some((r) => r.v[col] != null);
  let prev = hasFrames ? valueAtOrBefore(rows, col, switchS) : null;
  for (const r of rows) {
    if (r.elapsed <= switchS) continue;
    if (r.elapsed >= untilS) break;
    if (hasFrames) {
      const v = r.v[col];
      if (v == null) continue;
      if (prev !== null && v > prev) return (r.elapsed - switchS) * 1000;
      prev = v;
    } else if (rttValue(r) !== null) {
      return (r.elapsed - switchS) * 1000;
    }
  }
  return null;
}
