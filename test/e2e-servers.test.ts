// Acceptance of SERVERS beyond two on the real local testbed: three server namespaces on three switch
// ports, their direct links joined by a bridge, MIGRATION_SCHEDULE=round-robin taking the container
// lakewood → loveland → boulder → lakewood with no frame lost and no connection dropped, the load
// generator staying on lakewood, and the timing files and the report naming each hop.
// The run uses a testbed prefix of its own (p4sv-, management 10.198.6.0/24), so it neither
// reshapes nor takes down the p4cf- testbed other runs keep up; it removes what it brought up.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { runRunner } from './helpers/runner.ts';
import { runDirOf, useLocalTestbed } from './helpers/testbed-run.ts';

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

describe.skipIf(!isRoot)('three servers, round-robin, on the local testbed', () => {
  const { wasUp } = useLocalTestbed({
    env: ENV,
    // everything of the three-server testbed is gone: namespaces and the bridge in the switch's
    after: () => {
      if (!wasUp) expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(P);
    },
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
