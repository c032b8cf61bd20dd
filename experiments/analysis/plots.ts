// The run's plots as vega-lite specs: the twelve of the original plus frames_lost. Each builder
// returns a spec or a reason to skip (missing data is a note, never a crash).
import type { TopLevelSpec } from 'vega-lite';
import type { Summary } from './summary.ts';
import type { RunData } from './load.ts';
import {
  downtimeCdfPlot,
  framesLostPlot,
  migrationBarsPlot,
  migrationTimingPlot,
  phaseVariabilityPlot,
  rttByLocationPlot,
} from './plot-migrations.ts';
import {
  ensemble,
  ensembleSpec,
  long,
  type PlotName,
  type PlotSpec,
  rates,
  type Row,
  spanLayer,
  timeSeries,
  VEGA_LITE_SCHEMA,
  W,
  X_TIME,
} from './plot-series.ts';
import { rttValue } from './timeline.ts';
import { WORKLOADS } from '../workloads/index.ts';
import type { Workload } from '../workloads/types.ts';

// Imported from here by compare.ts and the analysis' callers; the helpers themselves live in plot-series.ts.
export { type PlotSpec, VEGA_LITE_SCHEMA } from './plot-series.ts';

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

  add('migration_timing', 'Migration phases per migration', noTimings, () => migrationTimingPlot(migs));
  add('migration_bars', 'Mean per phase (± sd)', noTimings, () => migrationBarsPlot(summary));

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

  add('rtt_by_location', 'RTT by server location', noRows, () => rttByLocationPlot(rows, migs));
  add('phase_variability', 'Variability of each phase', noTimings, () => phaseVariabilityPlot(migs));
  add('downtime_cdf', 'Client-visible downtime CDF', summary.downtime_ms.n === 0 ? 'no time_to_ready_ms values' : null, () =>
    downtimeCdfPlot(migs),
  );

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
    () => framesLostPlot(migs),
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
