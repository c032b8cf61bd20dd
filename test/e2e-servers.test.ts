// Acceptance of SERVERS beyond two on the real local testbed: three server namespaces on three switch
// ports, their direct links joined by a bridge, MIGRATION_SCHEDULE=round-robin taking the container
// lakewood → loveland → boulder → lakewood with no frame lost and no connection dropped, the load
// generator staying on lakewood, and the timing files and the report naming each hop.
// The run uses a testbed prefix of its own (p4sv-, management 10.198.6.0/24), so it neither
// reshapes nor takes down the p4cf- testbed other runs keep up; it removes what it brought up.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { projectDir, runRunner } from './helpers/runner.ts';

warnIfNotRoot('test/e2e-servers.test.ts (three servers on the local testbed)');

const P = 'p4sv-';
// the SSH targets follow this testbed's management subnet (config.env has the p4cf- testbed's; a
// third server's default is derived from MGMT_SUBNET)
const ENV = {
  TESTBED_PREFIX: P,
  MGMT_SUBNET: '10.198.6.0/24',
  TOFINO_SSH: 'root@10.198.6.2:22',
  LAKEWOOD_SSH: 'root@10.198.6.3:22',
  LOVELAND_SSH: 'root@10.198.6.4:22',
  SERVERS: 'lakewood,loveland,boulder',
  MIGRATION_SCHEDULE: 'round-robin',
};

const runDirOf = (stdout: string): string => {
  const m = stdout.match(/results in (\S+)/) ?? stdout.match(/run folder (\S+)/);
  if (!m) throw new Error(`no run folder in the runner's output:\n${stdout.slice(-3000)}`);
  return m[1].startsWith('/') ? m[1] : join(projectDir, m[1]);
};

describe.skipIf(!isRoot)('three servers, round-robin, on the local testbed', () => {
  const testbedWasUp = existsSync(`/run/netns/${P}tofino`);
  const tsx = (script: string, ...args: string[]) =>
    execFileSync(
      process.execPath,
      [join(projectDir, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(projectDir, 'experiments', script), ...args],
      { stdio: 'pipe', env: { ...process.env, ...ENV } },
    );
  afterAll(() => {
    try {
      tsx('clean.ts');
    } catch {
      /* the down below removes the testbed's containers too */
    }
    if (!testbedWasUp) {
      tsx('testbed.ts', 'down');
      // everything of the three-server testbed is gone: namespaces and the bridge in the switch's
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(P);
    }
  });

  it('visits every server with nothing lost, and names each hop', async () => {
    const r = await runRunner(
      [
        '--set',
        'SERVERS=lakewood,loveland,boulder',
        '--set',
        'MIGRATION_SCHEDULE=round-robin',
        '--migrations',
        '3',
        '--steady-state',
        '2',
        '--post-migration',
        '2',
      ],
      ENV,
      500_000,
    );
    expect(r.code, `runner failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`).toBe(0);
    const dir = runDirOf(r.stdout);
    // one namespace per server on its own switch port, the direct links on one bridge
    expect(existsSync(`/run/netns/${P}boulder`)).toBe(true);
    const bridge = execFileSync('ip', ['-n', `${P}tofino`, '-j', 'link', 'show', 'master', `${P}direct`], { encoding: 'utf8' });
    expect((JSON.parse(bridge) as { ifname: string }[]).map((l) => l.ifname).sort()).toEqual(
      [`${P}dboulder`, `${P}dlakewood`, `${P}dloveland`].sort(),
    );
    const hops = [
      ['lakewood', 'loveland', 148],
      ['loveland', 'boulder', 156],
      ['boulder', 'lakewood', 140],
    ] as const;
    for (const [i, [from, to, port]] of hops.entries()) {
      const t = JSON.parse(readFileSync(join(dir, `migration_timing_${i + 1}.json`), 'utf8')) as Record<string, unknown>;
      expect([t.source_node, t.target_node, Number(t.target_sw_port)], `migration ${i + 1}`).toEqual([from, to, port]);
    }
    const rows = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
    const cols = rows[0].split(',');
    const col = (name: string) =>
      rows
        .slice(1)
        .map((l) => Number(l.split(',')[cols.indexOf(name)]))
        .filter((x) => !Number.isNaN(x));
    expect(col('frames_lost').at(-1), 'frames lost').toBe(0);
    const drops = col('connection_drops');
    expect(Math.max(...drops) - Math.min(...drops), 'connection drops').toBe(0);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, { loadgenHost?: string } | string>;
    expect((state.workload as { loadgenHost?: string }).loadgenHost).toBe('lakewood');
    expect(state.serverHost).toBe('lakewood');
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    for (const [from, to] of hops) expect(html).toContain(`${from} → ${to}`);
  }, 520_000);
});
