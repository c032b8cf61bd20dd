// Small helpers shared by report.html and compare.html: escaping, number formatting, tables,
// and the page shell (inline CSS only, so the file opens from disk without a network).
import type { Describe } from '../../lib/analysis/stats.ts';

export const esc = (s: unknown): string =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function fmt(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function table(
  head: string[],
  rows: Array<Array<string | number | null>>,
  opts: { cls?: string; raw?: boolean } = {},
): string {
  const cell = (c: string | number | null) => (opts.raw ? String(c ?? '–') : esc(c ?? '–'));
  return (
    `<table${opts.cls ? ` class="${opts.cls}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${cell(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`
  );
}

export const DESCRIBE_HEAD = ['n', 'mean', 'sd', 'p50', 'p95', 'p99', 'min', 'max'];
export const describeCells = (d: Describe, digits = 1): string[] => [
  String(d.n),
  fmt(d.mean, digits),
  fmt(d.sd, digits),
  fmt(d.p50, digits),
  fmt(d.p95, digits),
  fmt(d.p99, digits),
  fmt(d.min, digits),
  fmt(d.max, digits),
];

/** Any JSON value as nested tables (manifest, host versions, phase list). */
export function valueHtml(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return '–';
  if (typeof v !== 'object') return esc(v);
  if (depth > 4) return `<code>${esc(JSON.stringify(v))}</code>`;
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x as object)))];
      return table(
        cols,
        v.map((x) => cols.map((c) => valueHtml((x as Record<string, unknown>)[c], depth + 1))),
        { raw: true, cls: 'inner' },
      );
    }
    return esc(v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(' '));
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '–';
  return table(
    ['key', 'value'],
    entries.map(([k, x]) => [esc(k), valueHtml(x, depth + 1)]),
    { raw: true, cls: 'inner' },
  );
}

export function svgDataUri(svg: string): string {
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

const CSS = `
body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}
h3{font-size:1.05em}.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.9em}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}table.inner{margin:0;font-size:1em}table.inner td{text-align:left}
.notes{background:#fff7e0;border:1px solid #e8c66a;padding:8px 16px;border-radius:4px}.notes li{margin:2px 0}
.pub{color:#555;font-style:italic}figure{margin:16px 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:0.85em;color:#555}.skip{color:#8a5a00}code{font-size:0.9em}
`;

export function page(title: string, body: string): string {
  return (
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head><body>${body}</body></html>\n`
  );
}
