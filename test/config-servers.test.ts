// SERVERS and the per-server template keys (<NAME>_SSH, _NIC, _SW_PORT, _DIRECT_IP, _DIRECT_IF):
// which keys exist, their derived defaults, layering, and the checks that stop a run (exit 2)
// before any host is touched.
import { describe, expect, it } from 'vitest';
import { configRecord, formatConfig, loadConfig } from '../lib/config/load.ts';
import { parseServerKey, serverKey } from '../lib/config/keys/servers.ts';
import { serverNode } from '../lib/server/net.ts';
import { renderConfigEnv, renderReadmeTable } from '../lib/config/doc.ts';
import { testbedLayout } from '../lib/modes/local/layout.ts';
import { tempProjects } from './helpers/project.ts';
import { runRunner } from './helpers/runner.ts';

const { project } = tempProjects('p4ca-servers-');
const load = (argv: string[], files: Record<string, string> = {}, env: Record<string, string> = {}) =>
  loadConfig({ cwd: project(files), env, argv });
const three = ['--set', 'SERVERS=lakewood,loveland,boulder'];

describe('SERVERS and the per-server keys', () => {
  it('default: the published two servers, with their published values', () => {
    const l = loadConfig({ env: {}, files: false });
    expect(l.config.SERVERS).toEqual(['lakewood', 'loveland']);
    expect(serverNode(l.config, 'lakewood')).toEqual({
      name: 'lakewood',
      nic: 'p4cf-nic',
      swPort: 140,
      directIp: '192.168.10.2',
      directIf: 'p4cf-direct',
    });
    expect(serverNode(l.config, 'loveland')).toMatchObject({ swPort: 148, directIp: '192.168.10.3' });
    expect(l.config.LOVELAND_SSH).toEqual({ user: 'root', host: '10.199.0.4', port: 22 });
    expect(l.origins.LAKEWOOD_SW_PORT).toBe('default');
  });

  it('a third server gets derived local-testbed defaults, shown by --print-config and config.json', () => {
    const l = load([...three, '--set', 'MGMT_SUBNET=10.198.7.0/24']);
    expect(serverNode(l.config, 'boulder')).toEqual({
      name: 'boulder',
      nic: 'p4cf-nic',
      swPort: 156,
      directIp: '192.168.10.4',
      directIf: 'p4cf-direct',
    });
    // the SSH default follows MGMT_SUBNET: host 3 + position
    expect(l.config.BOULDER_SSH.host).toBe('10.198.7.5');
    const text = formatConfig(l);
    expect(text).toMatch(/^BOULDER_SW_PORT\s+= 156\s+# default$/m);
    expect(text).toMatch(/^SERVERS\s+= lakewood,loveland,boulder\s+# --set$/m);
    // per-server keys sit with their group, after their anchor, in SERVERS order
    const lines = text.split('\n').map((x) => x.split(' ')[0]);
    expect(lines.indexOf('BOULDER_SSH')).toBe(lines.indexOf('LOVELAND_SSH') + 1);
    expect(lines.indexOf('BOULDER_NIC')).toBe(lines.indexOf('LOVELAND_NIC') + 1);
    expect(configRecord(l).BOULDER_DIRECT_IP).toEqual({ value: '192.168.10.4', origin: 'default' });
  });

  it('layers a server key from files, env and --set like any key', () => {
    const files = { 'config.env': 'SERVERS=lakewood,loveland,boulder\nBOULDER_SW_PORT=170\n' };
    expect(load([], files).config.BOULDER_SW_PORT).toBe(170);
    expect(load([], files).origins.BOULDER_SW_PORT).toBe('config.env:2');
    expect(load([], files, { BOULDER_SW_PORT: '171' }).config.BOULDER_SW_PORT).toBe(171);
    expect(load(['--set', 'BOULDER_SW_PORT=172'], files, { BOULDER_SW_PORT: '171' }).origins.BOULDER_SW_PORT).toBe('--set');
    // the key may come before SERVERS names the server (SERVERS is resolved from all layers first)
    expect(load([...three, '--set', 'BOULDER_NIC=eth9'], { 'config.env': 'BOULDER_DIRECT_IF=eth8\n' }).config).toMatchObject({
      BOULDER_NIC: 'eth9',
      BOULDER_DIRECT_IF: 'eth8',
    });
  });

  it('a value of a server key is checked against the template type', () => {
    expect(() => load([...three, '--set', 'BOULDER_SW_PORT=600'])).toThrow(
      /BOULDER_SW_PORT="600" \(from --set\): expected an integer >= 0 and <= 511/,
    );
    expect(() => load([...three, '--set', 'BOULDER_SSH=nope'])).toThrow(
      /BOULDER_SSH="nope" \(from --set\): expected an SSH target/,
    );
  });

  it('refuses a key of a server not in SERVERS, naming key, origin and SERVERS', () => {
    expect(() => load([], { 'config.env': 'BOULDER_SSH=root@10.199.0.5\n' })).toThrow(
      /^BOULDER_SSH \(from config.env:1\): server boulder is not in SERVERS=lakewood,loveland \(from default\); add boulder to SERVERS/,
    );
    expect(() => load(['--set', 'LOVLAND_NIC=x'])).toThrow(/LOVLAND_NIC \(from --set\): .*did you mean LOVELAND_NIC\?/);
    // env names are only read for the servers there are (GIT_SSH and friends are not ours)
    expect(load([], {}, { GIT_SSH: 'ssh', BOULDER_SSH: 'x' }).config.SERVERS).toEqual(['lakewood', 'loveland']);
  });

  it('refuses bad SERVERS lists', () => {
    expect(() => load(['--set', 'SERVERS=lakewood'])).toThrow(/SERVERS="lakewood" \(from --set\): expected 2-8 distinct/);
    expect(() => load(['--set', 'SERVERS=a,b,c,d,e,f,g,h,i'])).toThrow(/expected 2-8/);
    expect(() => load(['--set', 'SERVERS=lakewood,Loveland'])).toThrow(/lower-case identifier/);
    expect(() => load(['--set', 'SERVERS=lake_wood,loveland'])).toThrow(/lower-case identifier/);
    expect(() => load(['--set', 'SERVERS=lakewood,lakewood'])).toThrow(/"lakewood" appears twice/);
    expect(() => load(['--set', 'SERVERS=lakewood,tofino'])).toThrow(/tofino is the name of another host/);
  });

  it('two servers on one switch port, or with one direct address, are errors naming both keys', () => {
    expect(() => load([...three, '--set', 'BOULDER_SW_PORT=148'])).toThrow(
      /BOULDER_SW_PORT=148 \(from --set\) is also LOVELAND_SW_PORT=148 \(from default\): two servers on one switch port/,
    );
    expect(() => load([...three, '--set', 'BOULDER_DIRECT_IP=192.168.10.2'])).toThrow(
      /BOULDER_DIRECT_IP=192.168.10.2 \(from --set\) is also LAKEWOOD_DIRECT_IP=192.168.10.2 \(from default\)/,
    );
    expect(() => load([...three, '--set', 'BOULDER_DIRECT_IP=192.168.11.4'])).toThrow(/not in the \/24 of LAKEWOOD_DIRECT_IP/);
  });

  it('hardware: every server needs its SSH target, and a server beyond the published two all of its keys', () => {
    const hw = { 'config_hw.env': 'TOFINO_SSH=p@t.example\nLAKEWOOD_SSH=p@l.example\nLOVELAND_SSH=p@v.example\n' };
    expect(load([], hw).mode.testbed).toBe('hw');
    let msg = '';
    try {
      load(three, hw);
    } catch (e) {
      msg = (e as Error).message;
    }
    for (const k of ['BOULDER_SSH', 'BOULDER_NIC', 'BOULDER_SW_PORT', 'BOULDER_DIRECT_IP', 'BOULDER_DIRECT_IF'])
      expect(msg).toContain(`${k} is not set for the hardware testbed`);
    expect(msg).not.toContain('LOVELAND_NIC');
    const full = [
      ...three,
      ...['BOULDER_SSH=p@b.example', 'BOULDER_NIC=eth1', 'BOULDER_SW_PORT=156', 'BOULDER_DIRECT_IP=192.168.10.4'].flatMap((s) => [
        '--set',
        s,
      ]),
      '--set',
      'BOULDER_DIRECT_IF=eth2',
    ];
    expect(load(full, hw).config.BOULDER_SSH.host).toBe('b.example');
  });

  it('LOADGEN_HOST and list schedules must name servers; vip mode is two servers only', () => {
    expect(() => load(['--set', 'LOADGEN_HOST=boulder'])).toThrow(
      /LOADGEN_HOST=boulder \(from --set\): not one of SERVERS=lakewood,loveland/,
    );
    expect(load([...three, '--set', 'LOADGEN_HOST=boulder']).config.LOADGEN_HOST).toBe('boulder');
    expect(() => load(['--set', 'MIGRATION_SCHEDULE=list:lakewood,boulder'])).toThrow(/boulder is not in SERVERS/);
    expect(() => load([...three, '--set', 'MIGRATION_SCHEDULE=list:lakewood,loveland,lakewood'])).toThrow(
      /lakewood follows itself \(the list repeats/,
    );
    expect(() => load(['--set', 'MIGRATION_SCHEDULE=random'])).toThrow(
      /MIGRATION_SCHEDULE="random" \(from --set\): expected alternate, round-robin, random:SEED/,
    );
    expect(() => load([...three, '--set', 'MIGRATION_MODE=vip'])).toThrow(
      /has 3 servers, but MIGRATION_MODE=vip \(from --set\) works with two/,
    );
  });

  it('the generated docs: config.env lists the published servers, the reference the templates', () => {
    const env = renderConfigEnv();
    expect(env).toMatch(/^SERVERS=lakewood,loveland$/m);
    expect(env).toMatch(/^LAKEWOOD_SW_PORT=140$/m);
    expect(env).toMatch(/^LOVELAND_DIRECT_IP=192\.168\.10\.3$/m);
    const ref = renderReadmeTable();
    expect(ref).toMatch(/\| `<NAME>_SW_PORT` \| integer 0–511 \| `140\+8i/);
    expect(ref).toMatch(/\| `<NAME>_SSH` \|/);
    expect(ref).not.toMatch(/`LAKEWOOD_SSH`/);
  });

  it('key names: parseServerKey is the inverse of serverKey', () => {
    expect(parseServerKey(serverKey('boulder', 'DIRECT_IP'))).toEqual({ name: 'boulder', field: 'DIRECT_IP' });
    expect(parseServerKey('TOFINO_SSH')).toEqual({ name: 'tofino', field: 'SSH' }); // shape only; TOFINO_SSH is declared
    expect(parseServerKey('GIT_SSH')).toEqual({ name: 'git', field: 'SSH' });
    expect(parseServerKey('_SSH')).toBeUndefined();
    expect(parseServerKey('H2_IP')).toBeUndefined();
  });

  it('the local testbed lays out one namespace and switch port per server, and a direct bridge beyond two', () => {
    const two = testbedLayout(loadConfig({ env: {}, files: false }).config, { projectDir: '/nonexistent-p4tb' });
    expect(two.hosts.map((h) => h.name)).toEqual(['tofino', 'lakewood', 'loveland']);
    expect(two.directBridge).toBeUndefined();
    expect(two.veths.map((v) => v.label)).toContain('direct lakewood ↔ loveland');
    const L = testbedLayout(load(three).config, { projectDir: '/nonexistent-p4tb' });
    expect(L.hosts.map((h) => [h.name, h.mgmtIp])).toEqual([
      ['tofino', '10.199.0.2'],
      ['lakewood', '10.199.0.3'],
      ['loveland', '10.199.0.4'],
      ['boulder', '10.199.0.5'],
    ]);
    expect(L.switchPorts.map((p) => [p.devPort, p.swIf, p.host])).toEqual([
      [140, 'p4cf-p140', 'lakewood'],
      [148, 'p4cf-p148', 'loveland'],
      [156, 'p4cf-p156', 'boulder'],
    ]);
    expect(L.directBridge).toEqual({ ns: 'p4cf-tofino', name: 'p4cf-direct' });
    expect(L.veths.filter((v) => v.label.startsWith('direct')).map((v) => [v.a.ifname, v.b.ns, v.b.ifname])).toEqual([
      ['p4cf-dlakewood', 'p4cf-lakewood', 'p4cf-direct'],
      ['p4cf-dloveland', 'p4cf-loveland', 'p4cf-direct'],
      ['p4cf-dboulder', 'p4cf-boulder', 'p4cf-direct'],
    ]);
  });

  it('run.ts exits 2 naming the key before touching any host', async () => {
    const r = await runRunner(['--dry-run', ...three, '--set', 'BOULDER_SW_PORT=140']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BOULDER_SW_PORT=140 \(from --set\) is also LAKEWOOD_SW_PORT=140/);
    expect(r.stdout).not.toMatch(/\[lakewood\] \$/);
  });
});
