// The sweep's plan (issue 15): loop variables, cross product / zip, repetitions, and validation of
// every point before anything runs — unknown keys and bad values exit 2 naming them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { ConfigError } from '../lib/config/values.ts';
import { estimateRunMs, expandPlan, parseVary, pointArgs, validatePoints } from '../lib/sweep/plan.ts';
import { FIGURES, pointStats, sweepCsv, type SweepRow } from '../experiments/analysis/sweep.ts';
import { parseSweepCli } from '../experiments/sweep.ts';
import { projectDir } from './helpers/runner.ts';
import { spawnSync } from 'node:child_process';

const tmp = mkdtempSync(join(tmpdir(), 'p4ca-sweep-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const err = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return 'no error';
};

describe('loop variables', () => {
  it("KEY=v1,v2 parses by the key's own type", () => {
    expect(parseVary('LOADGEN_CONNECTIONS=4,64')).toEqual({ key: 'LOADGEN_CONNECTIONS', values: ['4', '64'] });
    expect(parseVary('STEADY_STATE=2s, 500ms').values).toEqual(['2s', '500ms']);
  });
  it('an unknown key, a bad value, an empty or repeated value are refused naming them', () => {
    expect(err(() => parseVary('LOADGEN_CONECTIONS=4'))).toBe(
      "--vary LOADGEN_CONECTIONS: unknown config key; did you mean LOADGEN_CONNECTIONS? (declared keys are in lib/config/keys/, a server's keys are <NAME>_SSH|NIC|SW_PORT|DIRECT_IP|DIRECT_IF)",
    );
    expect(err(() => parseVary('LOADGEN_CONNECTIONS=4,many'))).toMatch(
      /^LOADGEN_CONNECTIONS="many" \(from --vary LOADGEN_CONNECTIONS\): expected an integer >= 1/,
    );
    expect(err(() => parseVary('MIGRATIONS=1,,2'))).toMatch(/empty value/);
    expect(err(() => parseVary('MIGRATIONS=1,1'))).toMatch(/listed twice/);
    expect(err(() => parseVary('MIGRATIONS'))).toMatch(/expected KEY=VALUE1,VALUE2/);
  });
});

describe('loop variables over servers', () => {
  it("a server's key parses by its template's type; run.ts's validation checks the server is in SERVERS", () => {
    expect(parseVary('BOULDER_SW_PORT=156,164')).toEqual({ key: 'BOULDER_SW_PORT', values: ['156', '164'] });
    expect(err(() => parseVary('BOULDER_SW_PORT=156,600'))).toMatch(/^BOULDER_SW_PORT="600" \(from --vary BOULDER_SW_PORT\): /);
    const p = expandPlan([parseVary('BOULDER_SW_PORT=156')]);
    expect(err(() => validatePoints(p, [], { cwd: projectDir, env: {} }))).toMatch(
      /^point 1 \(BOULDER_SW_PORT=156\): BOULDER_SW_PORT .*server boulder is not in SERVERS=lakewood,loveland/,
    );
    const [c] = validatePoints(p, ['--set', 'SERVERS=lakewood,loveland,boulder'], { cwd: projectDir, env: {} });
    expect(c.BOULDER_SW_PORT).toBe(156);
  });
  it('values that hold commas (SERVERS, a schedule list) are separated by semicolons', () => {
    const v = parseVary('SERVERS=lakewood,loveland;lakewood,loveland,boulder');
    expect(v.values).toEqual(['lakewood,loveland', 'lakewood,loveland,boulder']);
    const cs = validatePoints(expandPlan([v]), [], { cwd: projectDir, env: {} });
    expect(cs.map((c) => c.SERVERS.length)).toEqual([2, 3]);
    expect(parseVary('MIGRATION_SCHEDULE=alternate;list:loveland,lakewood').values).toEqual([
      'alternate',
      'list:loveland,lakewood',
    ]);
  });
});

describe('expansion', () => {
  const a = parseVary('LOADGEN_CONNECTIONS=4,64');
  const b = parseVary('RTO_MIN_MS=0,5,200');
  it('cross product, first --vary outermost, each point R times in a row', () => {
    const p = expandPlan([a, b], { repeat: 2 });
    expect(p.runs).toHaveLength(12);
    expect(p.runs.slice(0, 3).map((r) => [r.index, r.point, r.rep, r.params])).toEqual([
      [1, 1, 1, { LOADGEN_CONNECTIONS: '4', RTO_MIN_MS: '0' }],
      [2, 1, 2, { LOADGEN_CONNECTIONS: '4', RTO_MIN_MS: '0' }],
      [3, 2, 1, { LOADGEN_CONNECTIONS: '4', RTO_MIN_MS: '5' }],
    ]);
    expect(p.runs.at(-1)!.params).toEqual({ LOADGEN_CONNECTIONS: '64', RTO_MIN_MS: '200' });
  });
  it('--zip pairs equal-length lists and refuses others', () => {
    const p = expandPlan([a, parseVary('RTO_MIN_MS=0,5')], { zip: true });
    expect(p.runs.map((r) => r.params)).toEqual([
      { LOADGEN_CONNECTIONS: '4', RTO_MIN_MS: '0' },
      { LOADGEN_CONNECTIONS: '64', RTO_MIN_MS: '5' },
    ]);
    expect(err(() => expandPlan([a, b], { zip: true }))).toMatch(/LOADGEN_CONNECTIONS has 2 values and RTO_MIN_MS 3/);
  });
  it('no --vary, a key twice or a bad --repeat are refused', () => {
    expect(err(() => expandPlan([]))).toMatch(/at least one --vary/);
    expect(err(() => expandPlan([a, a]))).toMatch(/given twice/);
    expect(err(() => expandPlan([a], { repeat: 0 }))).toMatch(/--repeat 0/);
  });
  it('pointArgs gives the --set list a run receives', () => {
    expect(pointArgs({ A: '1', B: 'x' })).toEqual(['--set', 'A=1', '--set', 'B=x']);
  });
});

describe('every point validated before the first run', () => {
  it('a combination that fails a cross-key check names the point', () => {
    const p = expandPlan([parseVary('H3_IP=192.168.12.3,192.168.12.2')]);
    expect(err(() => validatePoints(p, [], { cwd: projectDir, env: {} }))).toMatch(
      /^point 2 \(H3_IP=192\.168\.12\.2\): H3_IP=192\.168\.12\.2 .*is also H2_IP/,
    );
  });
  it('the run options apply under the point values', () => {
    const [c] = validatePoints(expandPlan([parseVary('MIGRATIONS=3')]), ['--steady-state', '2'], { cwd: projectDir, env: {} });
    expect(c.MIGRATIONS).toBe(3);
    expect(c.STEADY_STATE).toBe(2000);
  });
  it('the estimate grows with the waits and the migrations', () => {
    const c = loadConfig({ cwd: projectDir, env: {} }).config;
    expect(estimateRunMs({ ...c, MIGRATIONS: 4 }) - estimateRunMs({ ...c, MIGRATIONS: 2 })).toBe(2 * (1000 + c.POST_MIGRATION));
  });
});

describe('CLI', () => {
  it("sweep flags are its own; everything else is checked by run.ts's parser", () => {
    const cli = parseSweepCli(['--vary', 'MIGRATIONS=1,2', '--repeat', '3', '--migrations', '2', '--steady-state', '3', '--zip']);
    expect(cli).toMatchObject({ repeat: 3, zip: true, runArgs: ['--migrations', '2', '--steady-state', '3'] });
    expect(() => parseSweepCli(['--vary', 'MIGRATIONS=1', '--bogus'])).toThrow(/unknown option --bogus/);
    expect(() => parseSweepCli(['--vary', 'MIGRATIONS=1', '--resume', 'x', '--dry-run'])).not.toThrow();
    expect(() => parseSweepCli(['--vary', 'RESULTS_DIR=a,b'])).toThrow(/RESULTS_DIR/);
  });
  it('exit 2 before anything runs: unknown key, bad value; --dry-run prints the plan and writes nothing', () => {
    const tsx = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [tsx, join(projectDir, 'experiments', 'sweep.ts'), ...args], {
        cwd: projectDir,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const bad = run('--vary', 'NOPE=1,2');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--vary NOPE: unknown config key/);
    const badValue = run('--vary', 'LOADGEN_CONNECTIONS=4,lots');
    expect(badValue.status).toBe(2);
    expect(badValue.stderr).toMatch(/LOADGEN_CONNECTIONS="lots"/);
    const dry = run(
      '--vary',
      'LOADGEN_CONNECTIONS=4,64',
      '--repeat',
      '2',
      '--migrations',
      '2',
      '--dry-run',
      '--set',
      `RESULTS_DIR=${tmp}`,
    );
    expect(dry.status, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/LOADGEN_CONNECTIONS ∈ \{4, 64\}, 2 repetition\(s\): 4 run\(s\), 4 to do, about /);
    expect(dry.stdout).toMatch(/run 4: point 2 rep 2: run\.ts --migrations 2 --set RESULTS_DIR=\S+ --set LOADGEN_CONNECTIONS=64/);
    expect(spawnSync('ls', [tmp], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });
});

describe('results', () => {
  const plan = expandPlan([parseVary('LOADGEN_CONNECTIONS=4,64')], { repeat: 2 });
  const rows: SweepRow[] = plan.runs.map((r, i) => ({
    run: { ...r, status: i === 3 ? 'failed' : 'ok', dir: `run_${i}` },
    figures: i === 3 ? {} : { downtime_p50_ms: [600, 700, 900][i], frames_lost: 0 },
  }));
  it('sweep.csv: the varied keys first, then point, rep, status, run folder and the figures', () => {
    const lines = sweepCsv(plan, rows).trim().split('\n');
    expect(lines[0]).toBe(['LOADGEN_CONNECTIONS', 'point', 'rep', 'status', 'run', ...Object.keys(FIGURES)].join(','));
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^4,1,1,ok,run_0,600,/);
    expect(lines[4]).toMatch(/^64,2,2,failed,run_3,,/);
  });
  it('point medians use only the runs that ended ok', () => {
    const s = pointStats(rows, 'downtime_p50_ms');
    expect(s.map((p) => [p.point, p.n, p.median])).toEqual([
      [1, 2, 650],
      [2, 1, 900],
    ]);
    expect(s[0].low).toBeGreaterThanOrEqual(600);
    expect(s[0].high).toBeLessThanOrEqual(700);
  });
});
