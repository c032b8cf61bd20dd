// The two example scripts of experiments/examples/, run as a user runs them, on the real local
// testbed (shared with the other testbed tests: run under the machine-wide lock), with short waits.
// Also their dry runs against the hardware example config, which need no root.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir } from './helpers/runner.ts';

warnIfNotRoot('test/examples.test.ts (example scripts on the local testbed)');

const tsxCli = join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs');

function runScript(script: string, args: string[], ms: number): Promise<{ code: number; out: string }> {
  const child = spawn(process.execPath, [tsxCli, join(projectDir, script), ...args], {
    cwd: projectDir,
    env: { ...process.env, CI: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  child.stderr.on('data', (b) => {
    out += b;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((res) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      res({ code: code ?? 137, out });
    }),
  );
}

function runDirOf(out: string): string {
  const m = out.match(/results in (\S+)/) ?? out.match(/run folder (\S+)/);
  if (!m) throw new Error(`no run folder in the output:\n${out.slice(-3000)}`);
  return m[1].startsWith('/') ? m[1] : join(projectDir, m[1]);
}

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? '');
  }
};
const SHORT = ['--steady-state', '1', '--post-migration', '2'];

describe('examples, dry run (hardware example config)', () => {
  it('rate-limit plans its tc step right after build, and its undo at the end', async () => {
    const r = await runScript(
      'experiments/examples/rate-limit.ts',
      ['--dry-run', '--config', 'config_hw.env.example', '--migrations', '1'],
      120_000,
    );
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(r.out).toMatch(/=== build ok[^\n]*\n=== rate-limit — /);
    // the example config logs in as a sudo user, as the published lab did: root commands go through sudo -n
    expect(r.out).toContain('[lakewood] $ sudo -n tc qdisc replace dev enp101s0np1 root tbf rate 1gbit burst 64kb latency 50ms');
    expect(r.out).toMatch(/cleanup: remove the 1gbit limit on loveland enp101s0np1 — done/);
  });
  it('rss-loop runs its loop in place of migrate', async () => {
    const r = await runScript(
      'experiments/examples/rss-loop.ts',
      ['--dry-run', '--config', 'config_hw.env.example', '--migrations', '2'],
      120_000,
    );
    expect(r.code, r.out.slice(-3000)).toBe(0);
    expect(r.out).toMatch(/^phases: .* steady rss-loop post /m);
    expect(r.out).not.toMatch(/^=== migrate /m);
    expect(r.out).toMatch(/\[rss-loop\] migration 2 loveland → lakewood: VmRSS 0 kB/);
  });
});

describe.skipIf(!isRoot)('examples on the local testbed', () => {
  const { config } = loadConfig({ cwd: projectDir, env: {} });
  const ns = (h: string) => `${config.TESTBED_PREFIX}${h}`;
  const testbedWasUp = existsSync(`/run/netns/${ns('tofino')}`);
  afterAll(() => {
    sh(process.execPath, [tsxCli, join(projectDir, 'experiments', 'clean.ts')]);
    if (!testbedWasUp) sh(process.execPath, [tsxCli, join(projectDir, 'experiments', 'testbed.ts'), 'down']);
  });

  it('rate-limit: the standard run with a tc step after build, undone at the end', async () => {
    const r = await runScript('experiments/examples/rate-limit.ts', [...SHORT, '--migrations', '1'], 400_000);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    const dir = runDirOf(r.out);
    const log = readFileSync(join(dir, 'experiment.log'), 'utf8');
    // experiment.log lines start with a timestamp
    expect(log).toMatch(/=== build ok[^\n]*\n\S+ === rate-limit — /);
    expect(log).toMatch(new RegExp(`\\[rate-limit\\] lakewood ${config.LAKEWOOD_NIC}: 1gbit`));
    expect(log).toMatch(/cleanup: remove the 1gbit limit on lakewood \S+ — done/);
    expect(existsSync(join(dir, 'qdisc-lakewood.txt'))).toBe(true);
    expect(existsSync(join(dir, 'migration_timing_1.txt'))).toBe(true);
    // undone: no token bucket left on either NIC
    expect(sh('ip', ['netns', 'exec', ns('lakewood'), 'tc', 'qdisc', 'show', 'dev', config.LAKEWOOD_NIC])).not.toMatch(/tbf/);
    expect(sh('ip', ['netns', 'exec', ns('loveland'), 'tc', 'qdisc', 'show', 'dev', config.LOVELAND_NIC])).not.toMatch(/tbf/);
  }, 420_000);

  it('rss-loop: a custom migration loop writing rss.csv into the run folder', async () => {
    const r = await runScript('experiments/examples/rss-loop.ts', [...SHORT, '--migrations', '2'], 300_000);
    expect(r.code, r.out.slice(-4000)).toBe(0);
    const dir = runDirOf(r.out);
    const [head, ...rows] = readFileSync(join(dir, 'rss.csv'), 'utf8').trim().split('\n');
    expect(head).toBe('migration,from,to,time_to_ready_ms,vmrss_kb');
    expect(rows.map((l) => l.split(',').slice(0, 3).join(','))).toEqual(['1,lakewood,loveland', '2,loveland,lakewood']);
    for (const l of rows) {
      const [, , , ttr, rss] = l.split(',');
      expect(Number(ttr)).toBeGreaterThan(0);
      expect(Number(rss)).toBeGreaterThan(1000); // a node process holds more than 1 MB
    }
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      phases: { name: string; status: string }[];
    };
    expect(manifest.phases.map((p) => p.name)).toContain('rss-loop');
    expect(manifest.phases.map((p) => p.name)).not.toContain('migrate');
  }, 320_000);
});
