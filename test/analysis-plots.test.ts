// Every plot of a run folder exists as SVG (well-formed XML with an <svg> root) and PNG (valid
// signature, sensible size), and the migrations are drawn as shaded spans.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRun, type AnalyzeResult } from '../experiments/analysis/analyze.ts';
import { writeSyntheticRun } from './fixtures/analysis/generate.ts';

const ALL = [
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
];

/** Minimal XML well-formedness check: balanced, properly nested tags, one root element. Returns the root name. */
function checkXml(text: string): string {
  const body = text
    .replace(/<\?xml[^>]*\?>/, '')
    .replace(/<!--[\s\S]*?-->/g, '')
    .replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '');
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  const stack: string[] = [];
  let root = '';
  let roots = 0;
  let last = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    if (body.slice(last, m.index).includes('<'))
      throw new Error(`malformed markup near offset ${last}: ${body.slice(last, last + 60)}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) {
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open}>`);
    } else {
      if (stack.length === 0) {
        roots++;
        root = name;
      }
      if (!selfClose) stack.push(name);
    }
  }
  if (body.slice(last).includes('<')) throw new Error('malformed markup at the end');
  if (stack.length) throw new Error(`unclosed <${stack.join('><')}>`);
  if (roots !== 1) throw new Error(`expected one root element, found ${roots}`);
  return root;
}

function pngSize(buf: Buffer): { width: number; height: number } {
  expect([...buf.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(buf.subarray(12, 16).toString('ascii')).toBe('IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

let root: string;
let p4cf: AnalyzeResult;
let bash: AnalyzeResult;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'p4an-plots-'));
  writeSyntheticRun(join(root, 'run_p4cf'), { format: 'p4cf', migrations: 20, seed: 21 });
  writeSyntheticRun(join(root, 'run_bash'), { format: 'bash', migrations: 6, seed: 22 });
  p4cf = await analyzeRun(join(root, 'run_p4cf'));
  bash = await analyzeRun(join(root, 'run_bash'));
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('plots of a p4cf run', () => {
  it.each(ALL)('%s: .svg is well-formed SVG and .png a real image', (name) => {
    const svgPath = join(p4cf.dir, 'plots', `${name}.svg`);
    const pngPath = join(p4cf.dir, 'plots', `${name}.png`);
    expect(existsSync(svgPath), `${svgPath} missing`).toBe(true);
    expect(existsSync(pngPath), `${pngPath} missing`).toBe(true);
    const svg = readFileSync(svgPath, 'utf8');
    expect(checkXml(svg)).toBe('svg');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/<text[^>]*>[^<]+<\/text>/); // axis titles/labels are there
    const png = readFileSync(pngPath);
    const { width, height } = pngSize(png);
    expect(width).toBeGreaterThan(300);
    expect(height).toBeGreaterThan(150);
    expect(statSync(pngPath).size).toBeGreaterThan(5000);
  });

  it('skips nothing when every input is present', () => {
    expect(p4cf.skipped).toEqual([]);
    expect(p4cf.plots.map((p) => p.name).sort()).toEqual([...ALL].sort());
  });

  it('draws one shaded span per migration on the time-series plots', () => {
    const svg = readFileSync(join(p4cf.dir, 'plots', 'ws_rtt.svg'), 'utf8');
    // vega renders each rect mark as a <path> labelled "rect mark", in the span colour.
    const spans = svg.match(/<path[^>]*aria-roledescription="rect mark"[^>]*fill="#999999"[^>]*>/g) ?? [];
    expect(spans.length).toBe(20);
  });
});

describe('plots of a bash-format run', () => {
  it('renders the original twelve and skips frames_lost with a note', () => {
    expect(bash.plots.map((p) => p.name).sort()).toEqual(ALL.filter((n) => n !== 'frames_lost').sort());
    expect(bash.skipped.map((p) => p.name)).toEqual(['frames_lost']);
    expect(bash.summary.notes.join('\n')).toMatch(/plot frames_lost skipped/);
    expect(existsSync(join(bash.dir, 'plots', 'frames_lost.svg'))).toBe(false);
  });
});

describe('the XML checker itself', () => {
  it('rejects broken markup', () => {
    expect(() => checkXml('<svg><g></svg>')).toThrow();
    expect(() => checkXml('<svg></svg><svg></svg>')).toThrow(/one root/);
    expect(checkXml('<?xml version="1.0"?><svg a="1"><g/><text>x</text></svg>')).toBe('svg');
  });
});
