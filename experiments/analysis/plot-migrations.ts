// The plots built from the migrations' timing files and the per-migration windows: phases per
// migration, mean per phase against the published figures, phase variability, the downtime ECDF,
// frames lost per migration, and RTT by server location between migrations.
import type { TopLevelSpec } from 'vega-lite';
import { ecdf } from '../../lib/analysis/stats.ts';
import type { MetricsRow } from './load.ts';
import { H, PHASE_LABEL, PHASE_ORDER, type PlotSpec, type Row, VEGA_LITE_SCHEMA, W } from './plot-series.ts';
import { PUBLISHED } from './published.ts';
import { MAIN_PHASES, type MigrationSummary, RECOVERY_WINDOW_S, type Summary } from './summary.ts';
import { rttValue } from './timeline.ts';

export function migrationTimingPlot(migs: MigrationSummary[]): PlotSpec {
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
}

export function migrationBarsPlot(summary: Summary): PlotSpec {
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
}

export function rttByLocationPlot(rows: MetricsRow[], migs: MigrationSummary[]): PlotSpec {
  // Where the container runs at each row: the first source until a migration ends, then its target.
  let where = migs[0]?.source_node ?? 'server';
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
}

export function phaseVariabilityPlot(migs: MigrationSummary[]): PlotSpec {
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
}

export function downtimeCdfPlot(migs: MigrationSummary[]): PlotSpec {
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
}

export function framesLostPlot(migs: MigrationSummary[]): PlotSpec {
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
}
