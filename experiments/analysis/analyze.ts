// One call turns a run folder into summary.json, plots/<name>.svg|.png and report.html.
// Used by experiments/plot.ts and by the `analyze` phase.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addFirstDataToTimings } from './first-data.ts';
import { linksLine } from './links.ts';
import { loadRun } from './load.ts';
import { buildPlots } from './plots.ts';
import { specToSvg, svgToPng } from './render.ts';
import { renderReport, type RenderedPlot } from './report.ts';
import { computeSummary, type Summary } from './summary.ts';

export interface AnalyzeResult {
  dir: string;
  summary: Summary;
  summaryPath: string;
  reportPath: string;
  plots: Array<{ name: string; svgPath: string; pngPath: string }>;
  skipped: Array<{ name: string; reason: string }>;
}

export interface AnalyzeOptions {
  /** Progress lines (e.g. the run logger); silent by default. */
  log?: (msg: string) => void;
  /** PNG zoom factor relative to the SVG size. */
  pngScale?: number;
}

export async function analyzeRun(dir: string, opts: AnalyzeOptions = {}): Promise<AnalyzeResult> {
  const log = opts.log ?? (() => {});
  // the load generator's own per-connection timestamps, precise where metrics rows are 1 s apart
  const loadgenLog = join(dir, 'loadgen.log');
  if (existsSync(loadgenLog)) {
    const files = readdirSync(dir)
      .filter((f) => /^migration_timing_\d+\.json$/.test(f))
      .map((f) => join(dir, f));
    const n = addFirstDataToTimings(readFileSync(loadgenLog, 'utf8'), files);
    if (n) log(`analyze: first data after the switch update from loadgen.log for ${n} migration(s)`);
  }
  const run = loadRun(dir);
  const summary = computeSummary(run);
  const plotDir = join(run.dir, 'plots');
  mkdirSync(plotDir, { recursive: true });

  const rendered: RenderedPlot[] = [];
  const written: AnalyzeResult['plots'] = [];
  const skipped: AnalyzeResult['skipped'] = [];
  for (const p of buildPlots(run, summary)) {
    if ('skip' in p) {
      skipped.push({ name: p.name, reason: p.skip });
      summary.notes.push(`plot ${p.name} skipped: ${p.skip}`);
      rendered.push({ name: p.name, title: p.title, skip: p.skip });
      continue;
    }
    try {
      const svg = await specToSvg(p.spec);
      const svgPath = join(plotDir, `${p.name}.svg`);
      const pngPath = join(plotDir, `${p.name}.png`);
      writeFileSync(svgPath, svg);
      writeFileSync(pngPath, svgToPng(svg, opts.pngScale ?? 2));
      written.push({ name: p.name, svgPath, pngPath });
      rendered.push({ name: p.name, title: p.title, svg, pngFile: `plots/${p.name}.png` });
    } catch (e) {
      // One broken plot must not cost the whole report.
      const reason = `rendering failed: ${(e as Error).message}`;
      skipped.push({ name: p.name, reason });
      summary.notes.push(`plot ${p.name} skipped: ${reason}`);
      rendered.push({ name: p.name, title: p.title, skip: reason });
    }
  }
  log(`analyze: ${written.length} plot(s) written to ${plotDir}${skipped.length ? `, ${skipped.length} skipped` : ''}`);

  const summaryPath = join(run.dir, 'summary.json');
  writeFileSync(summaryPath, JSON.stringify(summary, null, 2) + '\n');
  const reportPath = join(run.dir, 'report.html');
  writeFileSync(reportPath, renderReport(run, summary, rendered));
  return { dir: run.dir, summary, summaryPath, reportPath, plots: written, skipped };
}

/** A few lines for the terminal: downtime, phases, drops, where the report is. */
export function summaryLines(r: AnalyzeResult): string[] {
  const s = r.summary;
  const f = (v: number | null, d = 0) => (v === null ? '–' : v.toFixed(d));
  const lines = [
    `run ${s.run.name} (${s.run.format}): ${s.run.migrations} migration(s), ${s.run.metrics_rows} metrics rows`,
    `downtime (time to ready) ms: n=${s.downtime_ms.n} mean=${f(s.downtime_ms.mean)} sd=${f(s.downtime_ms.sd)} p50=${f(s.downtime_ms.p50)} p95=${f(s.downtime_ms.p95)} p99=${f(s.downtime_ms.p99)} max=${f(s.downtime_ms.max)}  [published mean ${s.published.downtime_ms.mean}]`,
    `phase means ms: checkpoint=${f(s.phases_ms.checkpoint_ms.mean)} transfer=${f(s.phases_ms.transfer_ms.mean)} restore=${f(s.phases_ms.restore_ms.mean)} switch=${f(s.phases_ms.switch_ms.mean)} total=${f(s.phases_ms.total_ms.mean)}  [published 1564/157/1798/32]`,
    `connection drops: ${s.connection_drops ?? 'not measured'}; frames lost: ${s.counters.frames_lost.total ?? 'not measured'}; pings unanswered: ${s.counters.pings_unanswered.total ?? 'not measured'}`,
    `RTT ms: steady mean=${f(s.rtt.steady.mean, 3)}, ${s.rtt.window_s} s after switch mean=${f(s.rtt.after_migration.mean, 3)}; first data after switch p50=${f(s.first_data_after_switch_ms.stats.p50)} ms (${s.first_data_after_switch_ms.source}); RTO stall (slowest first pong after switch) p50=${f(s.pong_stall_ms.p50)} max=${f(s.pong_stall_ms.max)} ms`,
    `plots: ${r.plots.length} written, ${r.skipped.length} skipped`,
  ];
  if (s.workload) {
    const l = s.workload.lossless;
    lines.splice(4, 0, `workload ${s.workload.name}: lossless ${l.ok === null ? 'not decided' : l.ok ? 'yes' : 'NO'} (${l.why})`);
  }
  const links = linksLine(s.links);
  if (links) lines.splice(3, 0, links);
  if (s.notes.length) lines.push(`notes (${s.notes.length}):`, ...s.notes.map((n) => `  - ${n}`));
  lines.push(`report: ${r.reportPath}`);
  return lines;
}
