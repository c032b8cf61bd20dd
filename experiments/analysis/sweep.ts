// What a sweep produces besides its run folders: sweep.csv (one row per run, the varied keys first)
// and sweep.html (each figure against each varied key: every repetition as a dot, the median of
// each point with its bootstrap 95% CI). Every statistic comes from lib/analysis/stats.
import type { TopLevelSpec } from 'vega-lite';
import { bootstrapMedianCI, finite, percentile } from '../../lib/analysis/stats.ts';
import type { SweepPlan } from '../../lib/sweep/plan.ts';
import { esc, fmt, page, svgDataUri, table } from './html.ts';
import { specToSvg } from './render.ts';
import type { Summary } from './summary.ts';

export type RunStatus = 'pending' | 'running' | 'ok' | 'failed' | 'interrupted';

/** One run's record in sweep.json. */
export interface SweepRun {
  index: number;
  point: number;
  rep: number;
  params: Record<string, string>;
  status: RunStatus;
  /** The run folder (relative to the sweep folder), once the run created it. */
  dir?: string;
  exitCode?: number;
  durationMs?: number;
  error?: string;
}

/** The figures of one run that sweep.csv and sweep.html show, from its summary.json. */
export const FIGURES = {
  downtime_p50_ms: { title: 'downtime p50 (ms)', of: (s: Summary) => s.downtime_ms.p50 },
  downtime_p95_ms: { title: 'downtime p95 (ms)', of: (s: Summary) => s.downtime_ms.p95 },
  checkpoint_mean_ms: { title: 'checkpoint mean (ms)', of: (s: Summary) => s.phases_ms.checkpoint_ms.mean },
  transfer_mean_ms: { title: 'transfer mean (ms)', of: (s: Summary) => s.phases_ms.transfer_ms.mean },
  restore_mean_ms: { title: 'restore mean (ms)', of: (s: Summary) => s.phases_ms.restore_ms.mean },
  switch_mean_ms: { title: 'switch update mean (ms)', of: (s: Summary) => s.phases_ms.switch_ms.mean },
  frames_lost: { title: 'frames lost', of: (s: Summary) => s.counters.frames_lost.total },
  connection_drops: { title: 'connection drops', of: (s: Summary) => s.connection_drops },
  first_data_after_switch_p50_ms: {
    title: 'first data after switch p50 (ms)',
    of: (s: Summary) => s.first_data_after_switch_ms.stats.p50,
  },
  checkpoint_size_mean_bytes: { title: 'checkpoint size mean (bytes)', of: (s: Summary) => s.checkpoint_size_bytes.mean },
} as const;
export type FigureName = keyof typeof FIGURES;
const FIGURE_NAMES = Object.keys(FIGURES) as FigureName[];

export interface SweepRow {
  run: SweepRun;
  figures: Partial<Record<FigureName, number | null>>;
}

export const figuresOf = (s: Summary): Record<FigureName, number | null> =>
  Object.fromEntries(FIGURE_NAMES.map((f) => [f, FIGURES[f].of(s) ?? null])) as Record<FigureName, number | null>;

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function sweepCsv(plan: SweepPlan, rows: SweepRow[]): string {
  const keys = plan.varies.map((v) => v.key);
  const head = [...keys, 'point', 'rep', 'status', 'run', ...FIGURE_NAMES];
  const lines = rows.map((r) => [
    ...keys.map((k) => r.run.params[k]),
    r.run.point,
    r.run.rep,
    r.run.status,
    r.run.dir ?? '',
    ...FIGURE_NAMES.map((f) => r.figures[f]),
  ]);
  return [head, ...lines].map((l) => l.map(csvCell).join(',')).join('\n') + '\n';
}

/** Per point: the median over its repetitions and its bootstrap CI (null where no run gave the figure). */
export function pointStats(
  rows: SweepRow[],
  figure: FigureName,
): Array<{
  point: number;
  params: Record<string, string>;
  n: number;
  median: number | null;
  low: number | null;
  high: number | null;
}> {
  const byPoint = new Map<number, SweepRow[]>();
  for (const r of rows) byPoint.set(r.run.point, [...(byPoint.get(r.run.point) ?? []), r]);
  return [...byPoint.entries()].map(([point, rs]) => {
    const xs = finite(rs.filter((r) => r.run.status === 'ok').map((r) => r.figures[figure]));
    const ci = xs.length > 1 ? bootstrapMedianCI(xs) : null;
    return {
      point,
      params: rs[0].run.params,
      n: xs.length,
      median: percentile(xs, 0.5),
      low: ci?.low ?? null,
      high: ci?.high ?? null,
    };
  });
}

async function figurePlot(plan: SweepPlan, rows: SweepRow[], key: string, figure: FigureName): Promise<string> {
  const numeric = plan.varies.find((v) => v.key === key)!.values.every((v) => /^-?\d+(\.\d+)?$/.test(v));
  const x = {
    field: key,
    type: numeric ? 'quantitative' : 'ordinal',
    title: key,
    ...(numeric ? {} : { sort: plan.varies.find((v) => v.key === key)!.values }),
  };
  const others = plan.varies.filter((v) => v.key !== key).map((v) => v.key);
  const series = (params: Record<string, string>) => (others.length ? others.map((k) => `${k}=${params[k]}`).join(' ') : 'all');
  const dots = rows
    .filter((r) => r.run.status === 'ok' && r.figures[figure] !== null && r.figures[figure] !== undefined)
    .map((r) => ({
      [key]: numeric ? Number(r.run.params[key]) : r.run.params[key],
      value: r.figures[figure],
      series: series(r.run.params),
    }));
  const medians = pointStats(rows, figure)
    .filter((p) => p.median !== null)
    .map((p) => ({
      [key]: numeric ? Number(p.params[key]) : p.params[key],
      median: p.median,
      low: p.low ?? p.median,
      high: p.high ?? p.median,
      series: series(p.params),
    }));
  const color = { field: 'series', type: 'nominal', title: others.join(', ') || ' ' };
  const spec = {
    width: 420,
    height: 220,
    title: `${FIGURES[figure].title} vs ${key}`,
    layer: [
      {
        data: { values: dots },
        mark: { type: 'point', opacity: 0.5 },
        encoding: { x, y: { field: 'value', type: 'quantitative', title: FIGURES[figure].title }, color },
      },
      {
        data: { values: medians },
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'median', type: 'quantitative' }, color },
      },
      {
        data: { values: medians },
        mark: 'rule',
        encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color },
      },
    ],
  } as unknown as TopLevelSpec;
  return specToSvg(spec);
}

/** The figures shown as plots: those at least one run has. */
const plotted = (rows: SweepRow[]) =>
  FIGURE_NAMES.filter((f) => rows.some((r) => r.run.status === 'ok' && r.figures[f] !== null && r.figures[f] !== undefined));

export async function sweepHtml(plan: SweepPlan, rows: SweepRow[], o: { dir: string; command: string }): Promise<string> {
  const keys = plan.varies.map((v) => v.key);
  const counts = (['ok', 'failed', 'interrupted', 'pending'] as const)
    .map((s) => `${rows.filter((r) => r.run.status === s).length} ${s}`)
    .join(', ');
  const summaryRows = pointStats(rows, 'downtime_p50_ms').map((p) => {
    const rs = rows.filter((r) => r.run.point === p.point);
    const cell = (f: FigureName) => {
      const s = pointStats(rs, f)[0];
      return s?.median === null || s === undefined ? '–' : fmt(s.median, f.endsWith('_ms') ? 1 : 0);
    };
    return [
      p.point,
      ...keys.map((k) => p.params[k]),
      `${p.n}/${rs.length}`,
      cell('downtime_p50_ms'),
      p.low === null ? '–' : `${fmt(p.low, 0)}–${fmt(p.high, 0)}`,
      cell('downtime_p95_ms'),
      cell('frames_lost'),
      cell('connection_drops'),
      cell('first_data_after_switch_p50_ms'),
      cell('checkpoint_size_mean_bytes'),
    ];
  });
  const plots: string[] = [];
  for (const key of keys) {
    for (const f of plotted(rows))
      plots.push(
        `<figure><img alt="${esc(`${f} vs ${key}`)}" src="${svgDataUri(await figurePlot(plan, rows, key, f))}"></figure>`,
      );
  }
  const body = [
    `<h1>Parameter sweep: ${esc(keys.join(' × '))}</h1>`,
    `<p class="sub">${esc(o.dir)} · ${plan.runs.length} run(s): ${counts} · ${plan.zip ? 'paired lists (--zip)' : 'cross product'}, ${plan.repeat} repetition(s) per point · generated ${esc(new Date().toISOString())}</p>`,
    `<p class="sub">command: <code>${esc(o.command)}</code></p>`,
    '<h2>Points</h2>',
    '<p>Each point is one combination of the varied keys; its figures are the median over its repetitions that ended ok. Downtime is time_to_ready of each migration (p50 within a run, then the median over the repetitions, with a percentile-bootstrap 95% CI of that median when there are two or more repetitions).</p>',
    table(
      [
        'point',
        ...keys,
        'runs ok',
        'downtime p50 (ms)',
        'p50 95% CI',
        'downtime p95 (ms)',
        'frames lost',
        'drops',
        'first data after switch p50 (ms)',
        'checkpoint bytes',
      ],
      summaryRows,
    ),
    '<h2>Figures against each varied key</h2>',
    '<p>Dots: every run. Line: the median of each point. Bars: bootstrap 95% CI of the median (2000 resamples, seed 42).</p>',
    ...(plots.length ? plots : ['<p class="skip">no run ended ok: nothing to plot</p>']),
    '<h2>Runs</h2>',
    table(
      ['#', ...keys, 'rep', 'status', 'run folder', 'downtime p50 (ms)', 'frames lost', 'error'],
      rows.map((r) => [
        r.run.index,
        ...keys.map((k) => r.run.params[k]),
        r.run.rep,
        r.run.status,
        r.run.dir ?? '–',
        fmt(r.figures.downtime_p50_ms ?? null, 1),
        fmt(r.figures.frames_lost ?? null, 0),
        r.run.error ?? '',
      ]),
    ),
  ].join('\n');
  return page(`p4cf sweep ${keys.join(' × ')}`, body);
}
