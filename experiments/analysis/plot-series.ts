// What every plot of the run shares: the plot names and spec type, the standard size and phase labels,
// and the time-series / ensemble (aligned on migration starts) helpers the specs are built from.
import type { TopLevelSpec } from 'vega-lite';
import { describe } from '../../lib/analysis/stats.ts';
import type { MetricsRow } from './load.ts';
import type { Span } from './timeline.ts';

export const PLOT_NAMES = [
  'ws_rtt',
  'ws_jitter',
  'throughput',
  'connection_health',
  'migration_timing',
  'migration_bars',
  'container_resources',
  'rtt_by_location',
  'phase_variability',
  'downtime_cdf',
  'ensemble_rtt_recovery',
  'ensemble_throughput_recovery',
  'frames_lost',
] as const;
/** The original plots, and a workload's own time series (experiments/workloads: `plots`). */
export type PlotName = (typeof PLOT_NAMES)[number] | `workload_${string}`;

export type PlotSpec = { name: PlotName; title: string; spec: TopLevelSpec } | { name: PlotName; title: string; skip: string };

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
export const W = 720;
export const H = 240;
export const PHASE_LABEL: Record<string, string> = {
  checkpoint_ms: 'checkpoint',
  transfer_ms: 'transfer',
  restore_ms: 'restore',
  switch_ms: 'switch',
  total_ms: 'total',
  time_to_ready_ms: 'time to ready',
  other: 'other (pre/post steps)',
};
export const PHASE_ORDER = ['checkpoint', 'transfer', 'restore', 'switch', 'other (pre/post steps)'];
export const X_TIME = { field: 'elapsed', type: 'quantitative', title: 'time since start (s)' } as const;

export type Row = Record<string, number | string | null>;

/** Migrations as shaded spans behind a time-series layer. */
export function spanLayer(spans: Span[]) {
  return {
    data: { values: spans.map((s) => ({ start: s.start_s, end: s.end_s, migration: s.index })) },
    mark: { type: 'rect', color: '#999999', opacity: 0.2 },
    encoding: { x: { field: 'start', type: 'quantitative' }, x2: { field: 'end' } },
  } as const;
}

/** Long-form series [{elapsed, series, value}] with missing values dropped. */
export function long(
  rows: MetricsRow[],
  cols: Record<string, string>,
  pick: (r: MetricsRow, col: string) => number | null,
): Row[] {
  const out: Row[] = [];
  for (const r of rows)
    for (const [col, label] of Object.entries(cols)) {
      const v = pick(r, col);
      if (v !== null) out.push({ elapsed: r.elapsed, series: label, value: v });
    }
  return out;
}

/** Per-row rate of a cumulative byte counter (kB/s), between consecutive rows that have it. */
export function rates(rows: MetricsRow[], col: string): Array<{ elapsed: number; rate: number }> {
  const out: Array<{ elapsed: number; rate: number }> = [];
  let prev: { t: number; v: number } | null = null;
  for (const r of rows) {
    const v = r.v[col];
    if (v == null) continue;
    if (prev && r.elapsed > prev.t && v >= prev.v)
      out.push({ elapsed: r.elapsed, rate: (v - prev.v) / (r.elapsed - prev.t) / 1000 });
    prev = { t: r.elapsed, v };
  }
  return out;
}

/** A layered plot at the standard size, titled `title`. */
function layered(name: PlotName, title: string, layer: unknown[]): PlotSpec {
  return { name, title, spec: { $schema: VEGA_LITE_SCHEMA, title, width: W, height: H, layer } as TopLevelSpec };
}

export function timeSeries(
  name: PlotName,
  title: string,
  yTitle: string,
  values: Row[],
  spans: Span[],
  opts: { log?: boolean; step?: boolean } = {},
): PlotSpec {
  if (values.length === 0) return { name, title, skip: `no data for ${name} in metrics.csv` };
  return layered(name, title, [
    spanLayer(spans),
    {
      data: { values },
      mark: { type: 'line', interpolate: opts.step ? 'step-after' : 'linear', strokeWidth: 1.2, point: values.length < 80 },
      encoding: {
        x: X_TIME,
        y: { field: 'value', type: 'quantitative', title: yTitle, scale: opts.log ? { type: 'log' } : { zero: false } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    },
  ]);
}

/** Values of each metric aligned on migration starts: per 1 s bin, mean ± sd over migrations. */
export function ensemble(spans: Span[], series: Array<{ elapsed: number; value: number }>, before = 10, after = 30): Row[] {
  const bins = new Map<number, number[]>();
  for (const s of spans) {
    for (const p of series) {
      const rel = p.elapsed - s.start_s;
      if (rel < -before || rel > after) continue;
      const b = Math.round(rel);
      (bins.get(b) ?? bins.set(b, []).get(b)!).push(p.value);
    }
  }
  return [...bins.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([rel, vs]) => {
      const d = describe(vs);
      const sd = d.sd ?? 0;
      return {
        rel,
        mean: d.mean,
        low: Math.max(d.min ?? 0, (d.mean ?? 0) - sd),
        high: Math.min(d.max ?? 0, (d.mean ?? 0) + sd),
        n: d.n,
      };
    });
}

export function ensembleSpec(
  name: PlotName,
  title: string,
  yTitle: string,
  values: Row[],
  downtimeMean: number | null,
  log: boolean,
): PlotSpec {
  if (values.length === 0) return { name, title, skip: `${name}: needs metrics rows and migration times` };
  const rules = [{ x: 0, what: 'migration start' }];
  if (downtimeMean !== null) rules.push({ x: downtimeMean / 1000, what: 'mean switch update' });
  return layered(name, title, [
    {
      data: { values },
      mark: { type: 'area', opacity: 0.25, color: '#4c78a8' },
      encoding: {
        x: { field: 'rel', type: 'quantitative', title: 'time relative to migration start (s)' },
        y: { field: 'low', type: 'quantitative', title: yTitle, scale: log ? { type: 'log' } : {} },
        y2: { field: 'high' },
      },
    },
    {
      data: { values },
      mark: { type: 'line', color: '#4c78a8', point: true },
      encoding: { x: { field: 'rel', type: 'quantitative' }, y: { field: 'mean', type: 'quantitative' } },
    },
    {
      data: { values: rules },
      mark: { type: 'rule', strokeDash: [4, 3], color: '#e45756' },
      encoding: { x: { field: 'x', type: 'quantitative' }, tooltip: { field: 'what' } },
    },
  ]);
}
