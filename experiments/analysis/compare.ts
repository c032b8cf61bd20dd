// Side-by-side comparison of any number of run folders (either format): terminal table,
// compare.json and a self-contained compare.html. Every figure comes from lib/stats.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import {
  bootstrapMedianCI,
  ecdf,
  mannWhitneyU,
  type Describe,
  type Interval,
  type MannWhitney,
} from '../../lib/analysis/stats.ts';
import { DESCRIBE_HEAD, describeCells, esc, fmt, page, svgDataUri, table } from './html.ts';
import { loadRun } from './load.ts';
import { PUBLISHED } from './published.ts';
import { VEGA_LITE_SCHEMA } from './plots.ts';
import { specToSvg } from './render.ts';
import { computeSummary, MAIN_PHASES, type Summary } from './summary.ts';

const RUN_MARKERS = /^(metrics\.csv|migration_timing_\d+\.(txt|json)|config\.(json|txt)|manifest\.json)$/;

/** Run folders named on the command line; a folder without run files expands to its run_* subfolders. */
export function expandRunDirs(args: string[]): string[] {
  if (args.length === 0)
    throw new Error('compare: no run folders given (expected one or more results/run_* folders, or a parent folder of runs)');
  const out: string[] = [];
  for (const a of args) {
    const dir = resolve(a);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw new Error(`compare: ${a} is not a directory (expected a run folder or a folder of run_* folders)`);
    const files = readdirSync(dir);
    if (files.some((f) => RUN_MARKERS.test(f))) {
      out.push(dir);
      continue;
    }
    const runs = files.filter((f) => f.startsWith('run_') && statSync(join(dir, f)).isDirectory()).sort();
    if (runs.length === 0)
      throw new Error(
        `compare: ${a} is neither a run folder (no metrics.csv / migration_timing_*) nor a folder of run_* folders`,
      );
    out.push(...runs.map((r) => join(dir, r)));
  }
  return out;
}

export interface CompareRun {
  label: string;
  dir: string;
  format: 'p4cf' | 'bash';
  /** MIGRATION_MODE of the run (same-ip for runs that do not record it). */
  mode: 'same-ip' | 'vip';
  migrations: number;
  downtime_ms: Describe;
  downtime_p50_ci95: Interval | null;
  phases_ms: Record<(typeof MAIN_PHASES)[number] | 'total_ms', Describe>;
  checkpoint_size_bytes: Describe;
  connection_drops: number | null;
  frames_lost: number | null;
  pings_unanswered: number | null;
  /** The run's workload and its lossless verdict (null for runs analysed before workloads existed). */
  workload: { name: string; lossless: boolean | null; why: string } | null;
  notes: string[];
  /** time_to_ready_ms of each migration, kept for the tests/plots. */
  downtimes: number[];
}

export interface CompareDiff {
  label: string;
  baseline: string;
  downtime_mean_delta_ms: number | null;
  downtime_p50_delta_ms: number | null;
  downtime_p50_ratio: number | null;
  phase_mean_delta_ms: Record<string, number | null>;
  mann_whitney: MannWhitney | null;
}

export interface CompareResult {
  runs: CompareRun[];
  diffs: CompareDiff[];
  outDir: string;
  jsonPath: string;
  htmlPath: string;
  text: string;
}

function labels(dirs: string[]): string[] {
  const names = dirs.map((d) => basename(d));
  const qualified = names.map((n, i) => (names.indexOf(n) !== names.lastIndexOf(n) ? `${basename(dirname(dirs[i]))}/${n}` : n));
  // The same folder given twice still needs two distinct column labels.
  return qualified.map((n, i) => {
    const k = qualified.slice(0, i).filter((x) => x === n).length;
    return k ? `${n} (${k + 1})` : n;
  });
}

function toCompareRun(label: string, s: Summary): CompareRun {
  const downtimes = s.migrations.map((m) => m.time_to_ready_ms).filter((v): v is number => v !== null);
  return {
    label,
    dir: s.run.dir,
    format: s.run.format,
    mode: s.mode.mode,
    migrations: s.run.migrations,
    downtime_ms: s.downtime_ms,
    downtime_p50_ci95: bootstrapMedianCI(downtimes, { level: 0.95, resamples: 2000, seed: 42 }),
    phases_ms: {
      checkpoint_ms: s.phases_ms.checkpoint_ms,
      transfer_ms: s.phases_ms.transfer_ms,
      restore_ms: s.phases_ms.restore_ms,
      switch_ms: s.phases_ms.switch_ms,
      total_ms: s.phases_ms.total_ms,
    },
    checkpoint_size_bytes: s.checkpoint_size_bytes,
    connection_drops: s.connection_drops,
    frames_lost: s.counters.frames_lost.total,
    pings_unanswered: s.counters.pings_unanswered.total,
    workload: s.workload ? { name: s.workload.name, lossless: s.workload.lossless.ok, why: s.workload.lossless.why } : null,
    notes: s.notes,
    downtimes,
  };
}

const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);

function diffAgainst(base: CompareRun, r: CompareRun): CompareDiff {
  return {
    label: r.label,
    baseline: base.label,
    downtime_mean_delta_ms: delta(r.downtime_ms.mean, base.downtime_ms.mean),
    downtime_p50_delta_ms: delta(r.downtime_ms.p50, base.downtime_ms.p50),
    downtime_p50_ratio: r.downtime_ms.p50 !== null && base.downtime_ms.p50 ? r.downtime_ms.p50 / base.downtime_ms.p50 : null,
    phase_mean_delta_ms: Object.fromEntries(
      Object.entries(r.phases_ms).map(([k, d]) => [k, delta(d.mean, base.phases_ms[k as keyof CompareRun['phases_ms']].mean)]),
    ),
    mann_whitney: r.downtimes.length && base.downtimes.length ? mannWhitneyU(r.downtimes, base.downtimes) : null,
  };
}

/** Rows of the side-by-side table: [figure, value per run…]. */
export function tableRows(runs: CompareRun[]): string[][] {
  const f = (v: number | null, d = 0) => (v === null ? '–' : v.toFixed(d));
  const rows: string[][] = [
    ['format', ...runs.map((r) => r.format)],
    ['migration mode', ...runs.map((r) => r.mode)],
    ['migrations', ...runs.map((r) => String(r.migrations))],
    ['downtime mean (ms)', ...runs.map((r) => f(r.downtime_ms.mean))],
    ['downtime p50 (ms)', ...runs.map((r) => f(r.downtime_ms.p50))],
    [
      '  p50 95% CI (bootstrap)',
      ...runs.map((r) => (r.downtime_p50_ci95 ? `${f(r.downtime_p50_ci95.low)}–${f(r.downtime_p50_ci95.high)}` : '–')),
    ],
    ['downtime p95 (ms)', ...runs.map((r) => f(r.downtime_ms.p95))],
    ['downtime p99 (ms)', ...runs.map((r) => f(r.downtime_ms.p99))],
    ['downtime sd (ms)', ...runs.map((r) => f(r.downtime_ms.sd))],
  ];
  for (const k of [...MAIN_PHASES, 'total_ms'] as const) {
    const name = k.replace('_ms', '');
    rows.push([`${name} mean (ms)`, ...runs.map((r) => f(r.phases_ms[k].mean))]);
    rows.push([`${name} p50 (ms)`, ...runs.map((r) => f(r.phases_ms[k].p50))]);
  }
  rows.push([
    'checkpoint size mean (MB)',
    ...runs.map((r) => f(r.checkpoint_size_bytes.mean === null ? null : r.checkpoint_size_bytes.mean / 1e6, 2)),
  ]);
  rows.push(['connection drops', ...runs.map((r) => (r.connection_drops === null ? 'n/m' : String(r.connection_drops)))]);
  rows.push(['frames lost', ...runs.map((r) => (r.frames_lost === null ? 'n/m' : String(r.frames_lost)))]);
  rows.push(['pings unanswered', ...runs.map((r) => (r.pings_unanswered === null ? 'n/m' : String(r.pings_unanswered)))]);
  rows.push(['workload', ...runs.map((r) => r.workload?.name ?? 'n/m')]);
  rows.push([
    'lossless (workload check)',
    ...runs.map((r) =>
      !r.workload || r.workload.lossless === null ? 'n/m' : `${r.workload.lossless ? 'yes' : 'NO'}: ${r.workload.why}`,
    ),
  ]);
  return rows;
}

export function diffRows(diffs: CompareDiff[]): string[][] {
  const f = (v: number | null, d = 0) => {
    if (v === null) return '–';
    const t = v.toFixed(d);
    return Number(t) === 0 ? (0).toFixed(d) : `${v > 0 ? '+' : ''}${t}`;
  };
  return diffs.map((d) => [
    d.label,
    f(d.downtime_mean_delta_ms),
    f(d.downtime_p50_delta_ms),
    d.downtime_p50_ratio === null ? '–' : `${d.downtime_p50_ratio.toFixed(3)}×`,
    ...[...MAIN_PHASES, 'total_ms'].map((k) => f(d.phase_mean_delta_ms[k] ?? null)),
    d.mann_whitney ? d.mann_whitney.u.toFixed(1) : '–',
    d.mann_whitney
      ? `${d.mann_whitney.p < 0.001 ? d.mann_whitney.p.toExponential(2) : d.mann_whitney.p.toFixed(4)} (${d.mann_whitney.method})`
      : '–',
  ]);
}
export const DIFF_HEAD = [
  'run',
  'Δ downtime mean',
  'Δ p50',
  'p50 ratio',
  'Δ checkpoint',
  'Δ transfer',
  'Δ restore',
  'Δ switch',
  'Δ total',
  'Mann-Whitney U',
  'p (two-sided)',
];

export function textTable(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

async function comparePlots(runs: CompareRun[]): Promise<Array<{ name: string; svg: string } | { name: string; skip: string }>> {
  const out: Array<{ name: string; svg: string } | { name: string; skip: string }> = [];
  const cdf = runs.flatMap((r) => {
    const pts = ecdf(r.downtimes);
    return pts.length ? [{ run: r.label, x: pts[0].x, p: 0 }, ...pts.map((p) => ({ run: r.label, ...p }))] : [];
  });
  if (cdf.length) {
    out.push({
      name: 'downtime_cdf',
      svg: await specToSvg({
        $schema: VEGA_LITE_SCHEMA,
        title: 'Client-visible downtime, ECDF per run (dashed: published hardware mean)',
        width: 720,
        height: 260,
        layer: [
          {
            data: { values: cdf },
            mark: { type: 'line', interpolate: 'step-after', point: true },
            encoding: {
              x: { field: 'x', type: 'quantitative', title: 'downtime (ms)', scale: { zero: false } },
              y: { field: 'p', type: 'quantitative', title: 'fraction ≤ x' },
              color: { field: 'run', type: 'nominal' },
            },
          },
          {
            data: { values: [{ x: PUBLISHED.downtime_ms.mean }] },
            mark: { type: 'rule', strokeDash: [4, 3], color: '#888' },
            encoding: { x: { field: 'x', type: 'quantitative' } },
          },
        ],
      } as TopLevelSpec),
    });
  } else out.push({ name: 'downtime_cdf', skip: 'no run has time_to_ready_ms values' });
  const bars = runs
    .flatMap((r) =>
      [...MAIN_PHASES].map((k) => {
        const d = r.phases_ms[k];
        return {
          run: r.label,
          phase: k.replace('_ms', ''),
          mean: d.mean,
          low: d.mean === null ? null : d.mean - (d.sd ?? 0),
          high: d.mean === null ? null : d.mean + (d.sd ?? 0),
        };
      }),
    )
    .filter((v) => v.mean !== null);
  if (bars.length) {
    const x = { field: 'phase', type: 'nominal', sort: ['checkpoint', 'transfer', 'restore', 'switch'], title: null } as const;
    out.push({
      name: 'phase_bars',
      svg: await specToSvg({
        $schema: VEGA_LITE_SCHEMA,
        title: 'Mean per phase and run (± sd)',
        width: 720,
        height: 260,
        data: { values: bars },
        layer: [
          {
            mark: 'bar',
            encoding: {
              x,
              xOffset: { field: 'run' },
              y: { field: 'mean', type: 'quantitative', title: 'ms' },
              color: { field: 'run', type: 'nominal' },
            },
          },
          {
            mark: { type: 'rule', color: '#333' },
            encoding: { x, xOffset: { field: 'run' }, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' } },
          },
        ],
      } as TopLevelSpec),
    });
  } else out.push({ name: 'phase_bars', skip: 'no run has phase durations' });
  return out;
}

export async function compareRuns(args: string[], opts: { outDir?: string } = {}): Promise<CompareResult> {
  const dirs = expandRunDirs(args);
  const names = labels(dirs);
  const runs = dirs.map((d, i) => toCompareRun(names[i], computeSummary(loadRun(d))));
  const diffs = runs.slice(1).map((r) => diffAgainst(runs[0], r));
  const outDir = resolve(opts.outDir ?? join('results', `compare_${stamp()}`));
  mkdirSync(outDir, { recursive: true });

  const head = ['figure', ...runs.map((r) => r.label)];
  const rows = tableRows(runs);
  let text = textTable(head, rows);
  if (diffs.length)
    text += `\n\nagainst ${runs[0].label} (Mann-Whitney U on downtime, two-sided):\n` + textTable(DIFF_HEAD, diffRows(diffs));

  const jsonPath = join(outDir, 'compare.json');
  writeFileSync(
    jsonPath,
    JSON.stringify({ generated: new Date().toISOString(), runs, diffs, published: PUBLISHED }, null, 2) + '\n',
  );

  const plots = await comparePlots(runs);
  const body = [
    `<h1>Comparison of ${runs.length} run(s)</h1><p class="sub">baseline: ${esc(runs[0].label)} · generated ${esc(new Date().toISOString())}</p>`,
    '<h2>Side by side</h2>',
    table(head, rows),
    '<h2>Downtime per run</h2>',
    table(
      ['run', ...DESCRIBE_HEAD, 'p50 95% CI'],
      runs.map((r) => [
        r.label,
        ...describeCells(r.downtime_ms, 0),
        r.downtime_p50_ci95 ? `${fmt(r.downtime_p50_ci95.low, 0)}–${fmt(r.downtime_p50_ci95.high, 0)}` : '–',
      ]),
    ),
    `<p class="sub">Published hardware: mean ${PUBLISHED.downtime_ms.mean} ms, sd ${PUBLISHED.downtime_ms.sd}, p50 ${PUBLISHED.downtime_ms.p50}, max ${PUBLISHED.downtime_ms.max}. CI: percentile bootstrap of the median, 2000 resamples, seed 42.</p>`,
    ...(diffs.length ? [`<h2>Against ${esc(runs[0].label)}</h2>`, table(DIFF_HEAD, diffRows(diffs))] : []),
    '<h2>Plots</h2>',
    ...plots.map((p) =>
      'svg' in p
        ? `<figure><img alt="${esc(p.name)}" src="${svgDataUri(p.svg)}"><figcaption>${esc(p.name)}</figcaption></figure>`
        : `<p class="skip">${esc(p.name)} skipped: ${esc(p.skip)}</p>`,
    ),
    '<h2>Notes per run</h2>',
    ...runs.map(
      (r) =>
        `<h3>${esc(r.label)}</h3><p class="sub">${esc(r.dir)}</p>${r.notes.length ? `<ul class="notes">${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '<p>none</p>'}`,
    ),
  ].join('\n');
  const htmlPath = join(outDir, 'compare.html');
  writeFileSync(htmlPath, page(`p4cf comparison of ${runs.length} runs`, body));
  return { runs, diffs, outDir, jsonPath, htmlPath, text };
}
