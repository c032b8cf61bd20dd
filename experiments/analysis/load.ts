// Reads a run folder of either format: the p4cf one (config.json, manifest.json, timing JSON)
// or the published bash one (config.txt, timing .txt only). Missing optional files become
// notes, never errors: a half-finished run must still produce a report.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CSV_COLUMNS, ORIGINAL_COLUMN_COUNT } from '../workload/columns.ts';

/** The 19 columns of the original collector, in order (the first of what the p4cf collector writes). */
const ORIGINAL_COLUMNS = CSV_COLUMNS.slice(0, ORIGINAL_COLUMN_COUNT);

export interface MetricsRow {
  /** Raw timestamp text of the collector. */
  timestamp: string;
  /** Unix time in ms (timestamp_unix_milli, else parsed from timestamp). */
  t: number;
  /** Seconds on the plots' time axis (elapsed_s, else from t). */
  elapsed: number;
  /** Every numeric column by name; null = empty field (failed scrape) or not a number. */
  v: Record<string, number | null>;
}

export interface Metrics {
  columns: string[];
  rows: MetricsRow[];
  /** Columns the p4cf collector does not write: read, but not analysed. */
  extraColumns: string[];
}

export interface Timing {
  index: number;
  source: 'json' | 'txt';
  file: string;
  /** Every key as found: numbers where the value is numeric, strings otherwise. */
  values: Record<string, number | string>;
  /** Unix ms of the phase boundaries (from the *_ns keys), null when absent. */
  ms: {
    start: number | null;
    checkpointDone: number | null;
    transferDone: number | null;
    restoreDone: number | null;
    switchDone: number | null;
    end: number | null;
  };
}

export interface RunData {
  dir: string;
  name: string;
  format: 'p4cf' | 'bash';
  config: Record<string, { value: unknown; origin: string }>;
  manifest: Record<string, unknown> | null;
  metrics: Metrics | null;
  timings: Timing[];
  notes: string[];
}

function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function num(text: string | undefined): number | null {
  if (text === undefined) return null;
  const s = text.trim();
  if (s === '' || s.toLowerCase() === 'nan' || s.toLowerCase() === 'null') return null;
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

export function parseMetricsCsv(text: string, file = 'metrics.csv'): { metrics: Metrics; notes: string[] } {
  const notes: string[] = [];
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new Error(`${file}: empty file, expected a header line starting with "timestamp"`);
  const columns = splitCsvLine(lines[0]).map((c) => c.trim());
  const missing = ORIGINAL_COLUMNS.filter((c) => !columns.includes(c));
  if (missing.includes('elapsed_s') && missing.includes('timestamp_unix_milli') && missing.includes('timestamp')) {
    throw new Error(
      `${file}: header has no time column (timestamp, timestamp_unix_milli or elapsed_s); got: ${columns.join(',')}`,
    );
  }
  if (missing.length > 0) notes.push(`${file}: columns missing: ${missing.join(', ')}`);
  const known = new Set<string>(CSV_COLUMNS);
  const extraColumns = columns.filter((c) => !known.has(c));
  const rows: MetricsRow[] = [];
  let bad = 0;
  for (let li = 1; li < lines.length; li++) {
    const cells = splitCsvLine(lines[li]);
    const v: Record<string, number | null> = {};
    columns.forEach((c, i) => {
      if (c !== 'timestamp') v[c] = num(cells[i]);
    });
    const timestamp = cells[columns.indexOf('timestamp')] ?? '';
    let t = v.timestamp_unix_milli ?? null;
    if (t === null && timestamp) {
      const p = Date.parse(timestamp);
      t = Number.isFinite(p) ? p : null;
    }
    if (t === null && v.elapsed_s == null) {
      bad++;
      continue;
    }
    rows.push({ timestamp, t: t ?? NaN, elapsed: v.elapsed_s ?? NaN, v });
  }
  if (bad > 0) notes.push(`${file}: ${bad} row(s) without a usable time were skipped`);
  // Fill whichever time base is missing from the other, anchored on the first row that has both.
  const anchor = rows.find((r) => Number.isFinite(r.t) && Number.isFinite(r.elapsed));
  if (anchor) {
    for (const r of rows) {
      if (!Number.isFinite(r.elapsed)) r.elapsed = anchor.elapsed + (r.t - anchor.t) / 1000;
      if (!Number.isFinite(r.t)) r.t = anchor.t + (r.elapsed - anchor.elapsed) * 1000;
    }
  } else if (rows.length > 0) {
    if (Number.isFinite(rows[0].t)) {
      const t0 = rows[0].t;
      for (const r of rows) r.elapsed = (r.t - t0) / 1000;
    } else notes.push(`${file}: no absolute time in rows; migration spans from timing files cannot be placed`);
  }
  return { metrics: { columns, rows, extraColumns }, notes };
}

/** ns since epoch → ms, exact to the µs even though ns values exceed 2^53. */
function nsToMs(value: string | number | undefined): number | null {
  if (value === undefined || value === '') return null;
  try {
    const ns = BigInt(String(value).trim().split('.')[0]);
    return Number(ns / 1000n) / 1000;
  } catch {
    return null;
  }
}

export function parseTimingText(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return out;
}

function toTiming(index: number, source: 'json' | 'txt', file: string, raw: Record<string, unknown>): Timing {
  const values: Record<string, number | string> = {};
  const rawNs: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === null || v === undefined || typeof v === 'object') continue;
    const s = String(v);
    if (k.endsWith('_ns')) rawNs[k] = s;
    const n = typeof v === 'number' ? v : num(s);
    values[k] = n ?? s;
  }
  return {
    index,
    source,
    file,
    values,
    ms: {
      start: nsToMs(rawNs.migration_start_ns),
      checkpointDone: nsToMs(rawNs.checkpoint_done_ns),
      transferDone: nsToMs(rawNs.transfer_done_ns),
      restoreDone: nsToMs(rawNs.restore_done_ns),
      switchDone: nsToMs(rawNs.switch_update_done_ns),
      end: nsToMs(rawNs.migration_end_ns),
    },
  };
}

function readJson(path: string, notes: string[]): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    notes.push(`${basename(path)}: not valid JSON (${(e as Error).message}); ignored`);
    return undefined;
  }
}

/** JSON parse that keeps *_ns integers as strings, so nanosecond timestamps keep every digit. */
function parseTimingJson(text: string): Record<string, unknown> {
  const guarded = text.replace(/("[A-Za-z0-9_]*_ns"\s*:\s*)(-?\d+)/g, '$1"$2"');
  return JSON.parse(guarded) as Record<string, unknown>;
}

export function loadRun(dirArg: string): RunData {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`run folder ${dir} does not exist or is not a directory`);
  const notes: string[] = [];
  const files = readdirSync(dir);

  // Timing files: prefer migration_timing_<i>.json over the .txt of the same index.
  const byIndex = new Map<number, { json?: string; txt?: string }>();
  for (const f of files) {
    const m = /^migration_timing_(\d+)\.(json|txt)$/.exec(f);
    if (!m) continue;
    const e = byIndex.get(Number(m[1])) ?? {};
    e[m[2] as 'json' | 'txt'] = f;
    byIndex.set(Number(m[1]), e);
  }
  const timings: Timing[] = [];
  for (const index of [...byIndex.keys()].sort((a, b) => a - b)) {
    const e = byIndex.get(index)!;
    let done = false;
    if (e.json) {
      try {
        timings.push(toTiming(index, 'json', e.json, parseTimingJson(readFileSync(join(dir, e.json), 'utf8'))));
        done = true;
      } catch (err) {
        notes.push(`${e.json}: not valid JSON (${(err as Error).message})${e.txt ? `; using ${e.txt}` : '; migration skipped'}`);
      }
    }
    if (!done && e.txt) timings.push(toTiming(index, 'txt', e.txt, parseTimingText(readFileSync(join(dir, e.txt), 'utf8'))));
  }
  if (timings.length === 0) notes.push('no migration_timing_<i>.txt/.json files: no per-migration figures');

  let metrics: Metrics | null = null;
  if (files.includes('metrics.csv')) {
    try {
      const parsed = parseMetricsCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'));
      metrics = parsed.metrics;
      notes.push(...parsed.notes);
      if (metrics.rows.length === 0) notes.push('metrics.csv: no data rows');
    } catch (e) {
      notes.push(`metrics.csv unreadable: ${(e as Error).message}`);
    }
  } else {
    notes.push('metrics.csv missing: no time-series figures (RTT, throughput, drops, frames) or time-series plots');
  }

  const format: RunData['format'] =
    files.includes('config.json') || files.includes('manifest.json') || timings.some((t) => t.source === 'json')
      ? 'p4cf'
      : 'bash';
  let config: RunData['config'] = {};
  if (files.includes('config.json')) {
    const raw = readJson(join(dir, 'config.json'), notes);
    if (raw && typeof raw === 'object') {
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        config[k] =
          v && typeof v === 'object' && 'value' in (v as object)
            ? { value: (v as { value: unknown }).value, origin: String((v as { origin?: unknown }).origin ?? '') }
            : { value: v, origin: '' };
      }
    }
  } else if (files.includes('config.txt')) {
    const kv = parseTimingText(readFileSync(join(dir, 'config.txt'), 'utf8').replace(/^\s*export\s+/gm, ''));
    config = Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, { value: v, origin: 'config.txt' }]));
  } else {
    notes.push('no config.json or config.txt: configuration unknown');
  }
  let manifest: Record<string, unknown> | null = null;
  if (files.includes('manifest.json')) {
    const raw = readJson(join(dir, 'manifest.json'), notes);
    if (raw && typeof raw === 'object') manifest = raw as Record<string, unknown>;
  } else if (format === 'p4cf') {
    notes.push('manifest.json missing: no git/host versions');
  }
  return { dir, name: basename(dir), format, config, manifest, metrics, timings, notes };
}
