// report.html opened from disk in headless Chromium: no console errors, no network, every plot
// image decoded, the key figures visible. A screenshot is kept under test-artifacts/.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRun, type AnalyzeResult } from '../experiments/analysis/analyze.ts';
import { compareRuns, type CompareResult } from '../experiments/analysis/compare.ts';
import { writeSyntheticRun, type SyntheticRun } from './fixtures/analysis/generate.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`analysis-report tests skipped: ${CHROMIUM} is missing (the setup installs the chromium package)`);
const ARTIFACTS = resolve('test-artifacts');

let root: string;
let browser: Browser | undefined;
let run: SyntheticRun;
let result: AnalyzeResult;
let cmp: CompareResult;

interface PageCheck {
  errors: string[];
  requests: string[];
  images: Array<{ alt: string; w: number; complete: boolean }>;
  text: string;
}

async function open(file: string, shot: string): Promise<PageCheck> {
  const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
  });
  try {
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 30_000 });
    const images = await page.$$eval('img', (imgs) => imgs.map((i) => ({ alt: i.alt, w: i.naturalWidth, complete: i.complete })));
    const text = await page.innerText('body');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, shot), fullPage: true });
    return { errors, requests, images, text };
  } finally {
    await page.close();
  }
}

describe.skipIf(!hasChromium)('report.html in headless Chromium', () => {
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'p4an-report-'));
    run = writeSyntheticRun(join(root, 'run_p4cf'), { format: 'p4cf', migrations: 20, seed: 31 });
    writeSyntheticRun(join(root, 'run_bash'), { format: 'bash', migrations: 10, seed: 32 });
    result = await analyzeRun(run.dir);
    cmp = await compareRuns([root], { outDir: join(root, 'compare') });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('is self-contained: no scripts, no remote URLs', () => {
    const html = readFileSync(result.reportPath, 'utf8');
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="https?:/i);
    expect(html).not.toMatch(/<link[^>]+stylesheet/i);
  });

  it('opens from disk without console errors and every plot image loads', async () => {
    const p = await open(result.reportPath, 'analysis-report.png');
    expect(p.errors).toEqual([]);
    expect(p.requests).toEqual([]);
    expect(p.images.length).toBe(result.plots.length);
    expect(p.images.length).toBe(13);
    for (const img of p.images) {
      expect(img.complete, img.alt).toBe(true);
      expect(img.w, img.alt).toBeGreaterThan(0);
    }
    expect(existsSync(join(ARTIFACTS, 'analysis-report.png'))).toBe(true);
  });

  it('shows the downtime table, the per-phase means and the published figures beside them', async () => {
    const p = await open(result.reportPath, 'analysis-report-2.png');
    const dt = run.migrations.map((m) => m.time_to_ready_ms);
    const mean = dt.reduce((a, b) => a + b, 0) / dt.length;
    const fmt = (v: number, d = 1) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
    expect(p.text).toContain(fmt(mean));
    expect(p.text).toContain(fmt(Math.max(...dt)));
    for (const label of [
      'Client-visible downtime',
      'checkpoint',
      'transfer',
      'restore',
      'switch update',
      'connection drops',
      'frames lost',
      'Time from switch update to first data',
      'Configuration',
      'Manifest',
      'published hardware',
    ])
      expect(p.text).toContain(label);
    for (const pub of ['3,909', '1,564', '157', '1,798', '32']) expect(p.text).toContain(pub);
    expect(p.text).toContain('0123456789abcdef0123456789abcdef01234567'); // git commit from the manifest
    expect(p.text).toContain('4.2.1'); // host versions
  });

  it('compare.html also opens cleanly, with both overlaid plots and every run listed', async () => {
    const p = await open(cmp.htmlPath, 'analysis-compare.png');
    expect(p.errors).toEqual([]);
    expect(p.requests).toEqual([]);
    expect(p.images.length).toBe(2);
    for (const img of p.images) expect(img.w, img.alt).toBeGreaterThan(0);
    expect(p.text).toContain('run_p4cf');
    expect(p.text).toContain('run_bash');
  });
});
