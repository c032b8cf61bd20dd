// Inputs a fault-injection pass found accepted silently (issue 12 item 8): each is now refused with
// the key, the value and where it came from, before anything runs — or warned about.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, redactArgv } from '../lib/config/load.ts';
import { ConfigError } from '../lib/config/values.ts';
import { checkResultsDir } from '../lib/run/rundir.ts';
import { tempProjects } from './helpers/project.ts';
import { runRunner } from './helpers/runner.ts';

const { tmp, project } = tempProjects('p4ca-strict-');
const load = (files: Record<string, string>, argv: string[] = []) => loadConfig({ cwd: project(files), env: {}, argv });
const message = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return 'no error';
};

describe('config files: every line must mean something', () => {
  it('a line that is no KEY=VALUE is refused with file:line', () => {
    expect(message(() => load({ 'config.env': 'MIGRATIONS=3\nSTEADY_STATE 15s\n' }))).toBe(
      'config.env:2: not a KEY=VALUE line: "STEADY_STATE 15s" (comments start with #)',
    );
    expect(message(() => load({ 'config_hw.env': '# lab\nTOFINO_SSH=me@sw:22\ngarbage\n' }))).toMatch(
      /^config_hw\.env:3: not a KEY=VALUE line: "garbage"/,
    );
  });
  it('comments, blank lines, export and quoted values are fine', () => {
    const l = load({ 'config.env': '# c\n\nexport MIGRATIONS=3\nHW_NET="switch-net" # trailing\n  # indented comment\n' });
    expect(l.config.MIGRATIONS).toBe(3);
    expect(l.config.HW_NET).toBe('switch-net');
  });
  it('the lines of a quoted multi-line value are not taken for garbage (the value itself is then checked)', () => {
    expect(message(() => load({ 'config.env': 'CONTROLLER_TOKEN="ab\nno equals here"\n' }))).toMatch(
      /^CONTROLLER_TOKEN=<redacted> \(from config\.env:1\): expected printable/,
    );
  });
  it('an unclosed quote is refused', () => {
    expect(message(() => load({ 'config.env': 'CONTROLLER_TOKEN="abc\n' }))).toMatch(/never closed/);
  });
});

describe('hardware overlays name every host', () => {
  it('a host whose *_SSH is not in the overlay is refused instead of falling back to the local testbed address', () => {
    const msg = message(() => load({ 'config_hw.env': 'TOFINO_SSH=me@sw.lab:22\nLAKEWOOD_SSH=me@lw.lab:22\n' }));
    expect(msg).toMatch(
      /^LOVELAND_SSH is not set for the hardware testbed \(it would be the local testbed's root@10\.199\.0\.4:22 from default\)/,
    );
    // the environment or --set count as set
    expect(
      loadConfig({
        cwd: project({ 'config_hw.env': 'TOFINO_SSH=me@sw.lab:22\nLAKEWOOD_SSH=me@lw.lab:22\n' }),
        env: { LOVELAND_SSH: 'me@lv.lab' },
      }).config.LOVELAND_SSH.host,
    ).toBe('lv.lab');
  });
  it('MIGRATION_ENGINE=runc or lazy is refused on hardware naming the key (they restore a record only shared podman storage has)', () => {
    const hw = { 'config_hw.env': 'TOFINO_SSH=me@sw.lab:22\nLAKEWOOD_SSH=me@lw.lab:22\nLOVELAND_SSH=me@lv.lab:22\n' };
    for (const engine of ['runc', 'lazy'])
      expect(message(() => load(hw, ['--set', `MIGRATION_ENGINE=${engine}`]))).toMatch(
        new RegExp(
          `^MIGRATION_ENGINE=${engine} \\(from --set\\) restores the container record podman already holds.*use MIGRATION_ENGINE=podman on hardware`,
        ),
      );
    expect(load(hw, ['--set', 'MIGRATION_ENGINE=podman']).config.MIGRATION_ENGINE).toBe('podman');
    expect(load({}, ['--set', 'MIGRATION_ENGINE=lazy']).config.MIGRATION_ENGINE).toBe('lazy');
  });
  it('the local testbed keeps its defaults', () => {
    expect(load({}).mode.testbed).toBe('local');
  });
});

describe('node addresses', () => {
  it('two nodes with one address are caught by config validation', () => {
    expect(message(() => load({}, ['--set', 'H3_IP=192.168.12.2']))).toMatch(
      /^H3_IP=192\.168\.12\.2 \(from --set\) is also H2_IP \(from (default|config\.env:\d+)\)/,
    );
    expect(message(() => load({}, ['--set', 'VIP=192.168.12.100']))).toMatch(
      /^SHIM_IP=192\.168\.12\.100 .* is also VIP \(from --set\)/,
    );
  });
});

describe('secrets and warnings', () => {
  it('redactArgv hides secret values given with --set in both spellings', () => {
    expect(
      redactArgv(['--set', 'CONTROLLER_TOKEN=s3cret', '--set=CONTROLLER_TOKEN=x', '--set', 'MIGRATIONS=2', '--migrations', '3']),
    ).toEqual([
      '--set',
      'CONTROLLER_TOKEN=<redacted>',
      '--set=CONTROLLER_TOKEN=<redacted>',
      '--set',
      'MIGRATIONS=2',
      '--migrations',
      '3',
    ]);
  });
  it('an open controller address without a token is warned about', () => {
    expect(load({}, ['--set', 'CONTROLLER_LISTEN=0.0.0.0']).warnings.join('\n')).toMatch(
      /CONTROLLER_LISTEN=0\.0\.0\.0 with an empty CONTROLLER_TOKEN/,
    );
    expect(load({}, ['--set', 'CONTROLLER_LISTEN=0.0.0.0', '--set', 'CONTROLLER_TOKEN=t']).warnings).toEqual([]);
    expect(load({}).warnings).toEqual([]);
  });
  it('the manifest of a real run does not hold the token', async () => {
    const results = join(tmp, 'res-secret');
    const r = await runRunner(
      ['--set', 'CONTROLLER_TOKEN=s3cret-value', '--phase', 'alpha'],
      {
        P4CF_PHASES_MODULE: 'test/fixtures/p4ca-phases.ts',
        RESULTS_DIR: results,
        TESTBED_PREFIX: 'p4sc-',
      },
      30_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const dir = join(results, readdirSync(results)[0]);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8'), f).not.toContain('s3cret-value');
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).argv).toContain('CONTROLLER_TOKEN=<redacted>');
  });
});

describe('RESULTS_DIR', () => {
  it('a pseudo file system or a file in the way is a clear error, not a hang or a stack trace', () => {
    expect(() => checkResultsDir('/proc/results', '--set')).toThrow(
      /^RESULTS_DIR="\/proc\/results" \(from --set\): \/proc is on a kernel pseudo file system/,
    );
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => checkResultsDir(join(file, 'sub'), 'env')).toThrow(/a-file is a file, not a folder/);
    expect(() => checkResultsDir(join(tmp, 'new', 'deeper'), 'default')).not.toThrow();
  });
  it('the runner exits 2 at once for both', async () => {
    const env = { P4CF_PHASES_MODULE: 'test/fixtures/p4ca-phases.ts', TESTBED_PREFIX: 'p4sc-' };
    const proc = await runRunner(['--set', 'RESULTS_DIR=/proc/results'], env, 20_000);
    expect(proc.code).toBe(2);
    expect(proc.stderr).toMatch(/RESULTS_DIR="\/proc\/results" \(from --set\)/);
    const file = join(tmp, 'b-file');
    writeFileSync(file, 'x');
    const f = await runRunner(['--set', `RESULTS_DIR=${file}`], env, 20_000);
    expect(f.code).toBe(2);
    expect(f.stderr).toMatch(/b-file is a file, not a folder/);
    expect(f.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
