// The runner's EXIT trap, exercised on a real child process: SIGINT mid-phase, a failing phase,
// a second Ctrl-C, and --resume of the failed run.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createCleanup } from '../lib/run/cleanup.ts';
import { openState, phaseState, StateKeyError } from '../lib/run/rundir.ts';
import { projectDir, runRunner, spawnRunner } from './helpers/runner.ts';
import { isRunning } from './helpers/env.ts';

const fixture = join(projectDir, 'test', 'fixtures', 'p4ca-phases.ts');
const tmp = mkdtempSync(join(tmpdir(), 'p4ca-cleanup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let results: string;
let marks: string;
let n = 0;
beforeEach(() => {
  n++;
  results = join(tmp, `results${n}`);
  marks = join(tmp, `marks${n}.txt`);
});

const env = (extra: Record<string, string> = {}) => ({ P4CF_PHASES_MODULE: fixture, P4CA_MARKS: marks, ...extra });
const onlyRun = () => {
  const runs = readdirSync(results);
  expect(runs).toHaveLength(1);
  return join(results, runs[0]);
};

describe('cleanup stack (in process)', () => {
  it('runs undos LIFO, bounds each in time, and keeps going after a failing undo', async () => {
    const order: string[] = [];
    const c = createCleanup({ timeoutMs: 200 });
    c.add('first', () => {
      order.push('first');
    });
    c.add('hangs', () => new Promise<void>(() => {}));
    c.add('throws', () => {
      throw new Error('boom');
    });
    const remove = c.add('removed', () => {
      order.push('removed');
    });
    c.add('last', async () => {
      order.push('last');
    });
    remove();
    expect(c.pending()).toEqual(['last', 'throws', 'hangs', 'first']);
    const r = await c.runAll();
    expect(order).toEqual(['last', 'first']);
    expect(r.failed.map((f) => f.label)).toEqual(['throws', 'hangs']);
    expect(r.failed[1].error).toMatch(/timed out after 200 ms/);
    expect(c.pending()).toEqual([]);
  });
});

describe('runner EXIT trap (child process)', () => {
  it('SIGINT mid-phase: every undo runs LIFO, the background process is killed, error.log names the phase', async () => {
    const s = spawnRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_HANG: 'gamma' }));
    await s.waitFor('P4CA-READY', 60_000);
    s.child.kill('SIGINT');
    const code = await s.exit;
    expect(code, s.stdout() + s.stderr()).toBe(130);
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['undo-C', 'undo-B', 'undo-A']);
    const dir = onlyRun();
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(state.sleeper).toBeGreaterThan(1);
    expect(isRunning(state.sleeper)).toBe(false);
    const errorLog = readFileSync(join(dir, 'error.log'), 'utf8');
    expect(errorLog).toContain('phase: gamma');
    expect(errorLog).toContain('interrupted by SIGINT');
    expect(errorLog).toMatch(/last \d+ lines of experiment.log/);
    const log = readFileSync(join(dir, 'experiment.log'), 'utf8');
    expect(log).toMatch(/cleanup: stop p4ca-sleeper on local \(pid \d+\) — done/);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.phases.map((p: { name: string; status: string }) => `${p.name}:${p.status}`)).toEqual([
      'alpha:ok',
      'beta:ok',
      'gamma:interrupted',
    ]);
  });

  it('a failing phase: non-zero exit, undos run, error.log holds message, stack and log tail; --resume continues there', async () => {
    const r = await runRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_FAIL: 'gamma' }));
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['undo-C', 'undo-B', 'undo-A']);
    const dir = onlyRun();
    const errorLog = readFileSync(join(dir, 'error.log'), 'utf8');
    expect(errorLog).toContain('phase: gamma');
    expect(errorLog).toContain('p4ca fixture: gamma fails on purpose');
    expect(errorLog).toMatch(/stack:\nError: p4ca fixture/);
    expect(errorLog).toContain('=== gamma'); // the log tail
    expect(r.stdout + r.stderr).toContain(dir);

    // Resume: only the phases after the last ok one run, in the same folder, with its state.
    const r2 = await runRunner(['--resume', dir], env());
    expect(r2.code, r2.stdout + r2.stderr).toBe(0);
    expect(readdirSync(results)).toHaveLength(1);
    const log = readFileSync(join(dir, 'experiment.log'), 'utf8');
    expect(log).toContain('p4ca fixture: gamma fails on purpose'); // first run kept
    expect(log).toContain('[gamma] state alpha=done'); // state.json read back
    expect(r2.stdout).toContain('phases: gamma delta');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('ok');
    expect(manifest.resumes).toHaveLength(1);
    expect(manifest.phases.map((p: { name: string; status: string }) => `${p.name}:${p.status}`)).toEqual([
      'alpha:ok',
      'beta:ok',
      'gamma:failed',
      'gamma:ok',
      'delta:ok',
    ]);
  });

  it('a second SIGINT exits at once and lists what may be left', async () => {
    const s = spawnRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_HANG: 'gamma', P4CA_SLOW_UNDO: '1' }));
    await s.waitFor('P4CA-READY', 60_000);
    s.child.kill('SIGINT');
    // The first undo (undo-A, LIFO last) hangs for 60 s; interrupt it.
    await s.waitFor('cleanup: undo-B — done', 20_000);
    s.child.kill('SIGINT');
    const t0 = Date.now();
    const code = await s.exit;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(code).toBe(130);
    expect(s.stderr()).toMatch(/second SIGINT: exiting now; these may be left behind:\n.*undo-A/);
  });

  it('SIGINT stops the running phase before the undos: no command of it runs once cleanup started', async () => {
    const s = spawnRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_STEPS: '1' }));
    await s.waitFor('P4CA-READY', 60_000);
    s.child.kill('SIGINT');
    const code = await s.exit;
    expect(code, s.stdout() + s.stderr()).toBe(130);
    await new Promise((r) => setTimeout(r, 500)); // a command still running would write its mark now
    const lines = readFileSync(marks, 'utf8').trim().split('\n');
    const firstUndo = lines.indexOf('undo-C');
    expect(firstUndo).toBeGreaterThan(2);
    expect(lines.slice(firstUndo)).toEqual(['undo-C', 'undo-B', 'undo-A']);
    expect(s.stdout() + s.stderr()).toMatch(/waiting up to \d+ s for phase gamma to stop/);
    expect(s.stdout() + s.stderr()).toMatch(/phase gamma stopped: \[local\] command (ended|not started): the run was aborted/);
    const manifest = JSON.parse(readFileSync(join(onlyRun(), 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
  });

  it('SIGINT during analyze (seconds of synchronous rendering) exits 130 after the undos', async () => {
    const s = spawnRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_ANALYZE: '1' }));
    await s.waitFor('=== analyze', 60_000);
    await new Promise((r) => setTimeout(r, 300));
    s.child.kill('SIGINT');
    const code = await s.exit;
    expect(code, s.stdout() + s.stderr()).toBe(130);
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['undo-C', 'undo-B', 'undo-A']);
    const manifest = JSON.parse(readFileSync(join(onlyRun(), 'manifest.json'), 'utf8'));
    expect(manifest.status).toBe('interrupted');
    expect(manifest.phases.at(-1)).toMatchObject({ name: 'analyze', status: 'interrupted' });
  });

  it('writes no error.log on success', async () => {
    const r = await runRunner(['--set', `RESULTS_DIR=${results}`], env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const dir = onlyRun();
    expect(existsSync(join(dir, 'error.log'))).toBe(false);
    expect(r.stdout).toContain(`results in ${dir}`);
    expect(readFileSync(marks, 'utf8').trim().split('\n')).toEqual(['undo-C', 'undo-B', 'undo-A']);
  });
});

describe('state keys a phase may use', () => {
  const state = () => {
    const s = openState();
    s.set('a', 1);
    s.set('b', 2);
    return s;
  };
  const phase = { name: 'p', reads: ['a'], writes: ['w'] };

  it('strict: get of an undeclared key and set of a key not in writes throw StateKeyError', () => {
    const s = phaseState(state(), phase, { strict: true, warn: () => {} });
    expect(s.get('a')).toBe(1);
    s.set('w', 3);
    expect(s.get('w')).toBe(3);
    expect(() => s.get('b')).toThrow(new StateKeyError('p', 'b', 'get'));
    expect(() => s.get('b')).toThrow('phase p reads state key b but does not declare it in reads (or writes)');
    expect(() => s.set('a', 5)).toThrow('phase p writes state key a but does not declare it in writes');
  });

  it('not strict: one warning per key, and the value goes through', () => {
    const warnings: string[] = [];
    const s = phaseState(state(), phase, { strict: false, warn: (m) => warnings.push(m) });
    expect(s.get('b')).toBe(2);
    expect(s.get('b')).toBe(2);
    expect(warnings).toEqual([
      'phase p reads state key b but does not declare it in reads (or writes) (P4CF_STRICT_STATE=1 makes this an error)',
    ]);
  });

  it('the runner fails a phase that reads an undeclared key (strict in tests), and only warns otherwise', async () => {
    const r = await runRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_UNDECLARED: '1' }));
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/phase delta failed: phase delta reads state key alpha but does not declare it/);
    const lax = await runRunner(['--set', `RESULTS_DIR=${results}`], env({ P4CA_UNDECLARED: '1', P4CF_STRICT_STATE: '0' }));
    expect(lax.code, lax.stdout + lax.stderr).toBe(0);
    expect(lax.stdout + lax.stderr).toMatch(/phase delta reads state key alpha but does not declare it .*P4CF_STRICT_STATE=1/);
  });
});
