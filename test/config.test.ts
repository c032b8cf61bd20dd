// Configuration: parsers per type, layering order, origins, mode, unknown keys, the generated docs,
// and the CLI failing before anything touches a host.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { KeyType } from '../lib/config/keys.ts';
import { configRecord, formatConfig, hostDir, loadConfig } from '../lib/config/load.ts';
import { ConfigError, parseByType, suggestKey } from '../lib/config/values.ts';
import { checkDocs, REGEN_COMMAND } from '../lib/config/doc.ts';
import { tempProjects } from './helpers/project.ts';
import { runRunner } from './helpers/runner.ts';

const { project } = tempProjects('p4ca-config-');

describe('value parsers', () => {
  const cases: [KeyType, string[], [string, unknown][]][] = [
    [
      { kind: 'ipv4' },
      ['10.0.0.300', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '01.2.3.4', ''],
      [
        ['192.168.12.2', '192.168.12.2'],
        ['0.0.0.0', '0.0.0.0'],
      ],
    ],
    [{ kind: 'cidr' }, ['10.0.0.0', '10.0.0.0/33', '10.0.0.256/24', '10.0.0.0/x'], [['192.168.12.0/24', '192.168.12.0/24']]],
    [{ kind: 'mac' }, ['02:42:c0:a8:0c', '02-42-c0-a8-0c-02', 'zz:42:c0:a8:0c:02'], [['02:42:C0:A8:0C:02', '02:42:c0:a8:0c:02']]],
    [
      { kind: 'port' },
      ['0', '65536', '80a', '-1', ''],
      [
        ['8080', 8080],
        ['65535', 65535],
      ],
    ],
    [
      { kind: 'int', min: 1, max: 10 },
      ['0', '11', '1.5', 'ten'],
      [
        ['1', 1],
        ['10', 10],
      ],
    ],
    [
      { kind: 'duration' },
      ['15', '1 s', 's', '2d', '-1s'],
      [
        ['500ms', 500],
        ['15s', 15000],
        ['2m', 120000],
        ['1.5s', 1500],
        ['1h', 3600000],
      ],
    ],
    [
      { kind: 'path' },
      ['a\nb'],
      [
        ['results', 'results'],
        ['/var/tmp/p4cf/{host}', '/var/tmp/p4cf/{host}'],
      ],
    ],
    [
      { kind: 'ssh' },
      ['host', 'root@', '@host', 'root@host:0', 'root@host:70000', 'root@ho st'],
      [
        ['root@10.0.0.2', { user: 'root', host: '10.0.0.2', port: 22 }],
        ['me@sw.example:2222', { user: 'me', host: 'sw.example', port: 2222 }],
      ],
    ],
    [{ kind: 'enum', values: ['local', 'hw'] }, ['HW', 'remote', ''], [['hw', 'hw']]],
    [
      { kind: 'bool' },
      ['maybe', '2', ''],
      [
        ['true', true],
        ['0', false],
        ['yes', true],
        ['off', false],
      ],
    ],
    [{ kind: 'string', pattern: /^[a-z]+$/ }, ['ABC', 'a b'], [['abc', 'abc']]],
    [
      { kind: 'hostport' },
      ['127.0.0.1', '127.0.0.1:', ':50052', 'h:99999'],
      [
        ['127.0.0.1:50052', '127.0.0.1:50052'],
        ['switch:1', 'switch:1'],
      ],
    ],
    [
      { kind: 'url', optional: true },
      ['ftp://x', 'not a url', 'localhost:5000'],
      [
        ['', ''],
        ['http://127.0.0.1:5000', 'http://127.0.0.1:5000'],
      ],
    ],
  ];
  for (const [type, bad, good] of cases) {
    it(`${type.kind}: accepts ${good.map((g) => JSON.stringify(g[0])).join(', ')}; rejects ${bad.map((b) => JSON.stringify(b)).join(', ')}`, () => {
      for (const [raw, value] of good) expect(parseByType(type, raw)).toEqual(value);
      for (const raw of bad) expect(() => parseByType(type, raw), JSON.stringify(raw)).toThrow(/^expected /);
    });
  }
  it('url without optional rejects empty', () => {
    expect(() => parseByType({ kind: 'url' }, '')).toThrow(/http\(s\) URL/);
  });
});

describe('loadConfig', () => {
  it('layers config.env < config_hw.env < env < CLI flags and records each origin', () => {
    const dir = project({
      'config.env': '# base\nMIGRATIONS=2\nSTEADY_STATE=5s\nPOST_MIGRATION=7s\nLOADGEN_FPS=10\n',
      'config_hw.env': 'MIGRATIONS=3\nSTEADY_STATE=6s\n\nLOADGEN_FPS=11\n',
    });
    const l = loadConfig({
      cwd: dir,
      env: { MIGRATIONS: '4', LOADGEN_FPS: '12', NOT_A_KEY: 'x' },
      argv: ['--migrations', '5', '--set', 'POST_MIGRATION=9s'],
    });
    expect(l.config.MIGRATIONS).toBe(5);
    expect(l.origins.MIGRATIONS).toBe('--migrations');
    expect(l.config.LOADGEN_FPS).toBe(12);
    expect(l.origins.LOADGEN_FPS).toBe('env');
    expect(l.config.STEADY_STATE).toBe(6000);
    expect(l.origins.STEADY_STATE).toBe('config_hw.env:2');
    expect(l.config.POST_MIGRATION).toBe(9000);
    expect(l.origins.POST_MIGRATION).toBe('--set');
    expect(l.origins.H2_IP).toBe('default');
    expect(l.config.H2_IP).toBe('192.168.12.2');
  });

  it('flags take seconds for durations and accept --flag=value', () => {
    const l = loadConfig({ cwd: project({}), env: {}, argv: ['--steady-state=20', '--post-migration', '1.5'] });
    expect(l.config.STEADY_STATE).toBe(20_000);
    expect(l.config.POST_MIGRATION).toBe(1500);
    expect(l.origins.STEADY_STATE).toBe('--steady-state');
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--steady-state', '20s'] })).toThrow(
      /--steady-state "20s": expected a number of seconds/,
    );
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--migrations'] })).toThrow(/--migrations needs a value/);
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--set', 'MIGRATIONS'] })).toThrow(/expected KEY=VALUE/);
    // argv holds the config flags only (each script parses its own first); anything else is named.
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--phase', 'x'] })).toThrow(
      /^unknown option --phase; valid options: --config --set /,
    );
  });

  it('a bad value names key, value, expected type and file:line', () => {
    const dir = project({ 'config.env': '# comment\n\nH2_IP=10.0.0.300\n' });
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow('H2_IP="10.0.0.300" (from config.env:3): expected an IPv4 address');
    expect(() => loadConfig({ cwd: project({}), env: { SIGNALING_PORT: '99999' } })).toThrow(
      'SIGNALING_PORT="99999" (from env): expected a TCP port',
    );
  });

  it('lists every bad value at once', () => {
    let msg = '';
    try {
      loadConfig({ cwd: project({}), env: { H2_IP: 'x', H2_MAC: 'y' } });
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('H2_IP="x"');
    expect(msg).toContain('H2_MAC="y"');
  });

  it('unknown keys in files and --set are errors with a suggestion; unknown env names are ignored', () => {
    const dir = project({ 'config.env': 'MIGRATIONS=1\nSTEADY_STAT=5s\n' });
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(
      /unknown config key STEADY_STAT \(from config.env:2\); did you mean STEADY_STATE\?/,
    );
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--set', 'H2_PI=1.2.3.4'] })).toThrow(
      /H2_PI \(from --set\); did you mean H2_IP\?/,
    );
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--set', 'COMPLETELY_DIFFERENT=1'] })).toThrow(
      /^unknown config key COMPLETELY_DIFFERENT \(from --set\) \(declared/,
    );
    expect(suggestKey('lovland_ssh')).toBe('LOVELAND_SSH');
  });

  it('parses files as dotenv without a shell: no command substitution', () => {
    const dir = project({ 'config.env': 'HW_NET="$(touch pwned)"\n' });
    expect(() => loadConfig({ cwd: dir, env: {} })).toThrow(/HW_NET="\$\(touch pwned\)" \(from config.env:1\)/);
  });

  it('mode: local without an overlay; hw implied by an overlay with *_SSH; explicit TESTBED wins; env/flag win over files', () => {
    expect(loadConfig({ cwd: project({}), env: {} }).mode).toEqual({ testbed: 'local', why: 'no config_hw.env and no --config' });
    const hwDir = project({
      'config_hw.env': '# hw\nTOFINO_SSH=root@10.1.1.1\nLAKEWOOD_SSH=root@10.1.1.2\nLOVELAND_SSH=root@10.1.1.3\n',
    });
    const hw = loadConfig({ cwd: hwDir, env: {} });
    expect(hw.mode.testbed).toBe('hw');
    expect(hw.mode.why).toBe('config_hw.env present, sets TOFINO_SSH (config_hw.env:2)');
    expect(hw.origins.TESTBED).toBe('config_hw.env:2 (implied by TOFINO_SSH)');
    const explicit = loadConfig({ cwd: project({ 'config_hw.env': 'TESTBED=local\nTOFINO_SSH=root@10.1.1.1\n' }), env: {} });
    expect(explicit.mode).toEqual({ testbed: 'local', why: 'config_hw.env present, TESTBED set at config_hw.env:1' });
    const viaFlag = loadConfig({
      cwd: project({ 'other.env': 'LAKEWOOD_SSH=me@h:2222\nTOFINO_SSH=me@t\nLOVELAND_SSH=me@l\n' }),
      env: {},
      argv: ['--config', 'other.env'],
    });
    expect(viaFlag.mode.testbed).toBe('hw');
    expect(viaFlag.mode.why).toMatch(/^--config other.env, sets LAKEWOOD_SSH/);
    expect(viaFlag.config.LAKEWOOD_SSH).toEqual({ user: 'me', host: 'h', port: 2222 });
    const env = loadConfig({ cwd: hwDir, env: { TESTBED: 'local' } });
    expect(env.mode).toEqual({ testbed: 'local', why: 'TESTBED=local from env' });
    expect(() => loadConfig({ cwd: project({}), env: {}, argv: ['--config', 'missing.env'] })).toThrow(
      /--config missing.env: file .* does not exist/,
    );
  });

  it('print-config text and config.json redact secrets and show origins', () => {
    const l = loadConfig({ cwd: project({}), env: { CONTROLLER_TOKEN: 's3cr3t-token' }, argv: ['--migrations', '7'] });
    const text = formatConfig(l);
    expect(text).not.toContain('s3cr3t-token');
    expect(text).toMatch(/^CONTROLLER_TOKEN\s+= <redacted>\s+# env$/m);
    expect(text).toMatch(/^MIGRATIONS\s+= 7\s+# --migrations$/m);
    expect(text.split('\n')[0]).toBe('mode: local (no config_hw.env and no --config)');
    const rec = configRecord(l);
    expect(rec.CONTROLLER_TOKEN).toEqual({ value: '<redacted>', origin: 'env' });
    expect(JSON.stringify(rec)).not.toContain('s3cr3t');
    expect(rec.STEADY_STATE).toEqual({ value: 15000, origin: 'default' });
  });

  it('hostDir replaces {host}', () => {
    expect(hostDir('/var/tmp/p4cf/{host}/checkpoints', 'loveland')).toBe('/var/tmp/p4cf/loveland/checkpoints');
    expect(() => hostDir('/x/{host}', '../etc')).toThrow(/not a plain name/);
  });

  it('the repository config.env loads and gives the declared defaults', () => {
    const l = loadConfig({ env: {}, cwd: join(import.meta.dirname, '..') });
    expect(l.origins.TESTBED).toMatch(/^config\.env:\d+$/);
    expect(l.config.STEADY_STATE).toBe(15_000);
  });
});

describe('generated docs', () => {
  it(`config.env and the README reference match lib/config/keys.ts (regenerate with \`${REGEN_COMMAND}\`)`, () => {
    const s = checkDocs();
    expect(s.configEnvOk, `config.env is out of date: run \`${REGEN_COMMAND}\``).toBe(true);
    expect(s.readmeOk, `README.md config reference is out of date: run \`${REGEN_COMMAND}\``).toBe(true);
  });
});

describe('CLI', () => {
  it('H2_IP=10.0.0.300 run.ts --print-config exits non-zero naming H2_IP', async () => {
    const r = await runRunner(['--print-config'], { H2_IP: '10.0.0.300' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('H2_IP="10.0.0.300" (from env): expected an IPv4 address');
    expect(r.stdout).toBe('');
  });
  it('--print-config prints the mode line and every key with its origin', async () => {
    const r = await runRunner(['--print-config', '--steady-state', '3'], { CONTROLLER_TOKEN: 'tok-XYZ' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^mode: (local|hw) \(/);
    expect(r.stdout).toMatch(/^STEADY_STATE\s+= 3s\s+# --steady-state$/m);
    expect(r.stdout).not.toContain('tok-XYZ');
  });
});
