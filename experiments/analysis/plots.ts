// The run's plots as vega-lite specs: the twelve of the original plus frames_lost. Each builder
// returns a spec or a reason to skip (missing data is a note, never a crash).
import type { TopLevelSpec } from 'vega-lite';
import { describe, ecdf } from '../../lib/analysis/stats.ts';
import type { MetricsRow, RunData } from './load.ts';
import { PUBLISHED } from './published.ts';
import { MAIN_PHASES, RECOVERY_WINDOW_S, rttValue, type Span, type Summary } from './summary.ts';
import { WORKLOADS } from '../workloads/index.ts';
import type { Workload } from '../workloads/types.ts';

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
const W = 720;
const H = 240;
const PHASE_LABEL: Record<string, string> = {
  checkpoint_ms: 'checkpoint',
  transfer_ms: 'transfer',
  restore_ms: 'restore',
  switch_ms: 'switch',
  total_ms: 'total',
  time_to_ready_ms: 'time to ready',
  other: 'other (pre/post steps)',
};
const PHASE_ORDER = ['checkpoint', 'transfer', 'restore', 'switch', 'other (pre/post steps)'];
const X_TIME = { field: 'elapsed', type: 'quantitative', title: 'time since start (s)' } as const;

type Row = Record<string, number | string | null>;

/** Migrations as shaded spans behind a time-series layer. */
function spanLayer(spans: Span[]) {
  return {
    data: { values: spans.map((s) => ({ start: s.start_s, end: s.end_s, migration: s.index })) },
    mark: { type: 'rect', color: '#999999', opacity: 0.2 },
    encoding: { x: { field: 'start', type: 'quantitative' }, x2: { field: 'end' } },
  } as const;
}

/** Long-form series [{elapsed, series, value}] with missing values dropped. */
function long(rows: MetricsRow[], cols: Record<string, string>, pick: (r: MetricsRow, col: string) => number | null): Row[] {
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

function timeSeries(
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

function ensembleSpec(
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

export function buildPlots(run: RunData, summary: Summary): PlotSpec[] {
  const rows = run.metrics?.rows ?? [];
  const spans = summary.spans;
  const noRows = rows.length === 0 ? (run.metrics ? 'metrics.csv has no data rows' : 'metrics.csv missing') : null;
  const migs = summary.migrations;
  const noTimings = migs.length === 0 ? 'no migration timing files' : null;
  const plots: PlotSpec[] = [];
  const add = (name: PlotName, title: string, reason: string | null, make: () => PlotSpec) =>
    plots.push(reason ? { name, title, skip: reason } : make());

  add('ws_rtt', 'WebSocket RTT (load generator)', noRows, () =>
    timeSeries(
      'ws_rtt',
      'WebSocket RTT (load generator)',
      'RTT (ms, log)',
      long(
        rows,
        { ws_rtt_avg_ms: 'avg', ws_rtt_p50_ms: 'p50', ws_rtt_p95_ms: 'p95', ws_rtt_p99_ms: 'p99', ws_rtt_max_ms: 'max' },
        (r, c) => rttValue(r, c),
      ),
      spans,
      { log: true },
    ),
  );
  add('ws_jitter', 'WebSocket jitter', noRows, () =>
    timeSeries(
      'ws_jitter',
      'WebSocket jitter',
      'jitter (ms)',
      long(rows, { ws_jitter_ms: 'jitter' }, (r, c) => r.v[c]),
      spans,
    ),
  );
  add('throughput', 'Throughput (server byte counters)', noRows, () =>
    timeSeries(
      'throughput',
      'Throughput (server byte counters)',
      'kB/s',
      [
        ...rates(rows, 'bytes_sent').map((p) => ({ elapsed: p.elapsed, series: 'sent', value: p.rate })),
        ...rates(rows, 'bytes_received').map((p) => ({ elapsed: p.elapsed, series: 'received', value: p.rate })),
      ],
      spans,
    ),
  );
  add('connection_health', 'Connection health', noRows, () =>
    timeSeries(
      'connection_health',
      'Connection health',
      'count',
      long(
        rows,
        {
          connected_clients: 'connected (server)',
          lg_connected_clients: 'connected (load generator)',
          connection_drops: 'drops (cumulative)',
        },
        (r, c) => r.v[c],
      ),
      spans,
      { step: true },
    ),
  );

  add('migration_timing', 'Migration phases per migration', noTimings, () => {
    const values: Row[] = [];
    for (const m of migs) {
      let sum = 0;
      for (const k of MAIN_PHASES) {
        const v = m[k];
        if (v !== null) {
          values.push({ migration: m.index, phase: PHASE_LABEL[k], ms: v, order: PHASE_ORDER.indexOf(PHASE_LABEL[k]) });
          sum += v;
        }
      }
      if (m.time_to_ready_ms !== null && m.time_to_ready_ms - sum > 0)
        values.push({
          migration: m.index,
          phase: PHASE_LABEL.other,
          ms: m.time_to_ready_ms - sum,
          order: PHASE_ORDER.length - 1,
        });
    }
    if (values.length === 0) return { name: 'migration_timing', title: '', skip: 'timing files carry no phase durations' };
    return {
      name: 'migration_timing',
      title: 'Migration phases per migration',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: 'Migration phases per migration (stacked to time-to-ready)',
        width: W,
        height: H,
        data: { values },
        mark: 'bar',
        encoding: {
          x: { field: 'migration', type: 'ordinal', title: 'migration' },
          y: { field: 'ms', type: 'quantitative', stack: 'zero', title: 'ms' },
          color: { field: 'phase', type: 'nominal', sort: PHASE_ORDER, title: null, legend: { labelLimit: 260 } },
          order: { field: 'order', type: 'quantitative' },
        },
      } as TopLevelSpec,
    };
  });

  add('migration_bars', 'Mean per phase (± sd)', noTimings, () => {
    const values = (['checkpoint_ms', 'transfer_ms', 'restore_ms', 'switch_ms', 'total_ms'] as const)
      .map((k) => {
        const d = summary.phases_ms[k];
        const pub = (PUBLISHED.phases_ms as Record<string, number>)[k] ?? null;
        return {
          phase: PHASE_LABEL[k],
          mean: d.mean,
          low: d.mean === null ? null : d.mean - (d.sd ?? 0),
          high: d.mean === null ? null : d.mean + (d.sd ?? 0),
          published: pub,
        };
      })
      .filter((v) => v.mean !== null);
    if (values.length === 0) return { name: 'migration_bars', title: '', skip: 'timing files carry no phase durations' };
    const x = { field: 'phase', type: 'nominal', sort: values.map((v) => v.phase), title: null } as const;
    return {
      name: 'migration_bars',
      title: 'Mean per phase (± sd)',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: 'Mean per phase (± sd); black tick = published hardware mean',
        width: W,
        height: H,
        data: { values },
        layer: [
          { mark: { type: 'bar', color: '#4c78a8' }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'ms' } } },
          {
            mark: { type: 'rule', color: '#333' },
            encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } },
          },
          {
            transform: [{ filter: 'isValid(datum.published)' }],
            mark: { type: 'tick', color: 'black', thickness: 2 },
            encoding: { x, y: { field: 'published', type: 'quantitative' } },
          },
        ],
      } as TopLevelSpec,
    };
  });

  add('container_resources', 'Server container resources', noRows, () => {
    const cpu = long(rows, { cpu_percent: 'cpu' }, (r, c) => r.v[c]);
    const mem = long(rows, { memory_mb: 'memory' }, (r, c) => r.v[c]);
    if (cpu.length + mem.length === 0)
      return { name: 'container_resources', title: '', skip: 'no cpu_percent / memory_mb values' };
    const panel = (values: Row[], yTitle: string) => ({
      width: W,
      height: 150,
      layer: [
        spanLayer(spans),
        {
          data: { values },
          mark: { type: 'line', strokeWidth: 1.2 },
          encoding: { x: X_TIME, y: { field: 'value', type: 'quantitative', title: yTitle } },
        },
      ],
    });
    return {
      name: 'container_resources',
      title: 'Server container resources',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: 'Server container resources',
        vconcat: [panel(cpu, 'CPU (%)'), panel(mem, 'memory (MB)')],
      } as TopLevelSpec,
    };
  });

  add('rtt_by_location', 'RTT by server location', noRows, () => {
    // Where the container runs at each row: the first source until a migration ends, then its target.
    let where = migs[0]?.source_node ?? 'lakewood';
    const changes = migs
      .filter((m) => m.end_s !== null && m.target_node)
      .map((m) => ({ at: m.end_s!, to: m.target_node!, start: m.start_s ?? m.end_s! }));
    const values: Row[] = [];
    for (const r of rows) {
      while (changes.length && r.elapsed >= changes[0].at) where = changes.shift()!.to;
      const disturbed = migs.some(
        (m) => m.start_s !== null && m.end_s !== null && r.elapsed >= m.start_s && r.elapsed <= m.end_s + RECOVERY_WINDOW_S,
      );
      const v = rttValue(r);
      if (!disturbed && v !== null) values.push({ location: where, rtt: v });
    }
    if (values.length === 0) return { name: 'rtt_by_location', title: '', skip: 'no RTT samples outside migrations' };
    return {
      name: 'rtt_by_location',
      title: 'RTT by server location',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: `RTT while the server runs on each host (excluding migrations + ${RECOVERY_WINDOW_S} s)`,
        width: 400,
        height: H,
        data: { values },
        mark: { type: 'boxplot', extent: 'min-max' },
        encoding: {
          x: { field: 'location', type: 'nominal', title: null },
          y: { field: 'rtt', type: 'quantitative', title: 'RTT avg (ms)', scale: { zero: false } },
          color: { field: 'location', type: 'nominal', legend: null },
        },
      } as TopLevelSpec,
    };
  });

  add('phase_variability', 'Variability of each phase', noTimings, () => {
    const values: Row[] = [];
    for (const m of migs)
      for (const k of [...MAIN_PHASES, 'time_to_ready_ms'] as const) {
        const v = m[k];
        if (v !== null) values.push({ phase: PHASE_LABEL[k], ms: v, migration: m.index });
      }
    if (values.length === 0) return { name: 'phase_variability', title: '', skip: 'timing files carry no phase durations' };
    return {
      name: 'phase_variability',
      title: 'Variability of each phase',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: 'Variability of each phase (box = quartiles, dots = migrations)',
        data: { values },
        facet: {
          column: {
            field: 'phase',
            type: 'nominal',
            sort: ['checkpoint', 'transfer', 'restore', 'switch', 'time to ready'],
            title: null,
          },
        },
        spec: {
          width: 110,
          height: H,
          layer: [
            {
              mark: { type: 'boxplot', extent: 1.5, opacity: 0.5 },
              encoding: { y: { field: 'ms', type: 'quantitative', scale: { zero: false }, title: 'ms' } },
            },
            {
              mark: { type: 'point', filled: true, size: 18, color: '#333', opacity: 0.7 },
              encoding: { y: { field: 'ms', type: 'quantitative' } },
            },
          ],
        },
        resolve: { scale: { y: 'independent' } },
      } as TopLevelSpec,
    };
  });

  add('downtime_cdf', 'Client-visible downtime CDF', summary.downtime_ms.n === 0 ? 'no time_to_ready_ms values' : null, () => {
    const pts = ecdf(migs.map((m) => m.time_to_ready_ms).filter((v): v is number => v !== null));
    const values = [{ x: pts[0].x, p: 0 }, ...pts];
    const rules = [{ x: PUBLISHED.downtime_ms.mean, what: `published mean ${PUBLISHED.downtime_ms.mean} ms` }];
    return {
      name: 'downtime_cdf',
      title: 'Client-visible downtime CDF',
      spec: {
        $schema: VEGA_LITE_SCHEMA,
        title: 'Client-visible downtime (time to ready), ECDF; dashed = published hardware mean',
        width: W,
        height: H,
        layer: [
          {
            data: { values },
            mark: { type: 'line', interpolate: 'step-after', point: true },
            encoding: {
              x: { field: 'x', type: 'quantitative', title: 'downtime (ms)', scale: { zero: false } },
              y: { field: 'p', type: 'quantitative', title: 'fraction of migrations ≤ x', scale: { domain: [0, 1] } },
            },
          },
          {
            data: { values: rules },
            mark: { type: 'rule', strokeDash: [4, 3], color: '#e45756' },
            encoding: { x: { field: 'x', type: 'quantitative' } },
          },
        ],
      } as TopLevelSpec,
    };
  });

  const noEnsemble = noRows ?? (spans.length === 0 ? 'no migration times to align on' : null);
  add('ensemble_rtt_recovery', 'RTT around migrations (ensemble)', noEnsemble, () =>
    ensembleSpec(
      'ensemble_rtt_recovery',
      'RTT aligned on migration start: mean ± sd over migrations',
      'RTT avg (ms, log)',
      ensemble(
        spans,
        rows
          .map((r) => ({ elapsed: r.elapsed, value: rttValue(r) }))
          .filter((p): p is { elapsed: number; value: number } => p.value !== null),
      ),
      summary.downtime_ms.mean,
      true,
    ),
  );
  add('ensemble_throughput_recovery', 'Throughput around migrations (ensemble)', noEnsemble, () =>
    ensembleSpec(
      'ensemble_throughput_recovery',
      'Throughput (sent) aligned on migration start: mean ± sd over migrations',
      'kB/s',
      ensemble(
        spans,
        rates(rows, 'bytes_sent').map((p) => ({ elapsed: p.elapsed, value: p.rate })),
      ),
      summary.downtime_ms.mean,
      false,
    ),
  );

  const hasCounters = summary.counters.frames_lost.total !== null || summary.counters.pings_unanswered.total !== null;
  add(
    'frames_lost',
    'Frames lost / pings unanswered per migration',
    noRows ?? (!hasCounters ? 'metrics.csv has no frames_lost / pings_unanswered columns' : noTimings),
    () => {
      const labels = {
        frames_lost: 'frames lost',
        pings_unanswered: 'pings unanswered',
        frames_duplicated: 'frames duplicated',
        frames_reordered: 'frames reordered',
      } as const;
      const values: Row[] = [];
      for (const m of migs)
        for (const [k, label] of Object.entries(labels)) {
          const v = m.window[k as keyof typeof labels];
          if (v !== null) values.push({ migration: m.index, what: label, count: v });
        }
      return {
        name: 'frames_lost',
        title: 'Frames lost / pings unanswered per migration',
        spec: {
          $schema: VEGA_LITE_SCHEMA,
          title: 'Per migration window (migration start → next migration)',
          width: W,
          height: H,
          data: { values },
          mark: 'bar',
          encoding: {
            x: { field: 'migration', type: 'ordinal' },
            xOffset: { field: 'what', type: 'nominal' },
            y: { field: 'count', type: 'quantitative', title: 'count' },
            color: { field: 'what', type: 'nominal', title: null },
          },
        } as TopLevelSpec,
      };
    },
  );
  const w = summary.workload ? (WORKLOADS as Record<string, Workload>)[summary.workload.name] : undefined;
  for (const p of w?.plots ?? []) {
    const name = `workload_${p.name}` as const;
    add(name, p.title, noRows, () =>
      timeSeries(
        name,
        p.title,
        p.yTitle,
        long(rows, p.columns, (r, c) => {
          const v = r.v[c];
          return v === null || (p.log && v <= 0) ? null : v;
        }),
        spans,
        { log: p.log },
      ),
    );
  }
  return plots;
}
