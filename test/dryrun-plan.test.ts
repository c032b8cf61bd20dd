// The dry-run plan: `experiments/run.ts --config config_hw.env.example --dry-run --migrations 2`
// prints every command each phase would run on each host, without touching any. Its output is
// kept as a file snapshot so a change to what a hardware run does shows up in review.
// Update after an intended change with: npx vitest run test/dryrun-plan.test.ts -u
// A local-mode dry run must also finish, and create neither a run folder nor a namespace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { hostOf, normalisePlan } from './helpers/plan.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// Only PATH/HOME from the environment: a declared key exported in the shell would change the plan.
const cleanEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' });

function runDry(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'experiments/run.ts', '--dry-run', ...args], {
    cwd: repo,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The lines of one phase's section (from its === banner to the next). */
function section(plan: string, name: string): string[] {
  const all = plan.split('\n');
  const start = all.findIndex((l) => l.startsWith(`=== ${name} `));
  if (start < 0) return [];
  const end = all.findIndex((l, i) => i > start && (l.startsWith('===') || l.startsWith('cleanup (')));
  return all.slice(start, end < 0 ? undefined : end);
}

describe('hardware dry run', () => {
  it('prints the whole plan for config_hw.env.example and 2 migrations, and exits 0', async () => {
    const r = runDry(['--config', 'config_hw.env.example', '--migrations', '2']);
    expect(r.status, r.out.split('\n').slice(-15).join('\n')).toBe(0);
    const plan = normalisePlan(r.out);
    expect(plan).toMatch(/^p4cf run: mode hw/m);
    // every phase ran to its end; testbed is local-only
    expect(plan).toMatch(/^=== testbed skipped/m);
    for (const p of [
      'preflight',
      'sync',
      'images',
      'switchd',
      'controller',
      'clean',
      'build',
      'workload',
      'steady',
      'migrate',
      'post',
      'collect',
      'analyze',
    ])
      expect(plan, p).toMatch(new RegExp(`^=== ${p} ok in`, 'm'));
    expect(plan).toMatch(
      new RegExp(
        esc(
          'bf_switchd --background --status-port 7777 --install-dir /opt/open-p4studio/install --conf-file /opt/p4cf/tofino/conf/tna_load_balancer.conf',
        ),
      ),
    );
    // nothing of the local testbed leaks into a hardware plan
    expect(plan).not.toMatch(/p4cf-(tofino|lakewood|loveland|nic|direct)\b/);
    expect(plan).not.toMatch(/--net=\/run\/netns|ip netns exec/);
    // controller calls are planned, not sent: reinitialize, same-IP mode, one switch update per migration
    const http = plan.split('\n').filter((l) => l.startsWith('[local] ') && / http:\/\//.test(l));
    expect(http.filter((l) => l.includes('/reinitialize'))).toHaveLength(1);
    expect(http.filter((l) => l.includes('/deleteClientSnat'))).toHaveLength(1);
    expect(http.filter((l) => l.includes('/updateForward'))).toEqual([
      '[local] POST http://127.0.0.1:<forwarded port>/updateForward {"ipv4":"192.168.12.2","sw_port":148,"dst_mac":"02:42:c0:a8:0c:02"}',
      '[local] POST http://127.0.0.1:<forwarded port>/updateForward {"ipv4":"192.168.12.2","sw_port":140,"dst_mac":"02:42:c0:a8:0c:02"}',
    ]);
    // one migration in the published order, on the right hosts: checkpoint on the source, pull and restore on the target
    const mig = section(plan, 'migrate');
    const at = (host: string, re: RegExp) => mig.findIndex((l) => hostOf(l) === host && re.test(l));
    expect(
      at('lakewood', /podman container checkpoint --export \S+ --compress none --keep --tcp-established p4cf-server/),
    ).toBeGreaterThan(0);
    expect(at('loveland', /socat -u -T 5 TCP:192\.168\.10\.2:19500/)).toBeGreaterThan(0);
    expect(at('loveland', /podman container restore --import \S+ --keep --tcp-established --ignore-static-mac/)).toBeGreaterThan(
      0,
    );
    expect(at('lakewood', /socat -u -T 5 TCP:192\.168\.10\.3:19500/)).toBeGreaterThan(0);
    // stand-in PIDs are printed as what they stand for
    expect(plan).toMatch(/> \/opt\/p4cf\/tofino\/switchd\.pid/);
    expect(plan).toMatch(/echo '<switchd pid> <start-time> [0-9a-f]{16}' > \/opt\/p4cf\/tofino\/switchd\.pid/);
    expect(plan).toMatch(/nsenter -t <server pid> -n/);
    // the run's undos close the plan: controller, load generator and collector stopped, shim and rules removed
    expect(plan).toMatch(/^\[tofino\] \$ (sudo -n )?sh -c 'p=<controller pid>$/m);
    expect(plan).toMatch(/^\[lakewood\] \$ stop loadgen:/m);
    expect(plan).toMatch(/^\[local\] \$ stop collector:/m);
    await expect(plan).toMatchFileSnapshot('__snapshots__/dryrun-hw.txt');
  });
});

describe('local dry run', () => {
  // A prefix of this test's own (never p4cf-, the real testbed's): any namespace with it after the
  // run would have been made by the dry run.
  const prefix = 'p4dr-';
  const results = mkdtempSync(join(tmpdir(), 'p4dr-results-'));
  afterAll(() => rmSync(results, { recursive: true, force: true }));

  it('exits 0, plans every phase, and creates no run folder, no namespace and no local process output', () => {
    const r = runDry(['--set', `TESTBED_PREFIX=${prefix}`, '--set', `RESULTS_DIR=${results}`]);
    expect(r.status, r.out.split('\n').slice(-15).join('\n')).toBe(0);
    expect(r.out).toMatch(/^p4cf run: mode local/m);
    expect(r.out).toMatch(new RegExp(`would bring up the local testbed ${prefix}`));
    expect(r.out).toMatch(/^=== analyze ok in/m);
    // the collector would run here: planned on [local], never started (it would write into RESULTS_DIR)
    expect(r.out).toMatch(/^\[local\] background collector: /m);
    expect(readdirSync(results)).toEqual([]);
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    expect(ns.status).toBe(0);
    expect(ns.stdout.split('\n').filter((l) => l.startsWith(prefix))).toEqual([]);
  });
});

describe('hardware dry run, three servers', () => {
  // hostOf knows the published hosts; a third server's lines are matched by name
  const on = (host: string, l: string) => l.startsWith(`[${host}] `);
  it('plans three servers round-robin: each hop on its hosts, every server prepared, the switch pointed at each port', () => {
    const boulder = [
      'SSH=p4cf@boulder.lab.example',
      'NIC=enp101s0np1',
      'SW_PORT=156',
      'DIRECT_IP=192.168.10.4',
      'DIRECT_IF=enp179s0f1',
    ];
    const r = runDry([
      '--config',
      'config_hw.env.example',
      '--set',
      'SERVERS=lakewood,loveland,boulder',
      '--set',
      'MIGRATION_SCHEDULE=round-robin',
      ...boulder.flatMap((kv) => ['--set', `BOULDER_${kv}`]),
      '--migrations',
      '3',
    ]);
    expect(r.status, r.out.split('\n').slice(-15).join('\n')).toBe(0);
    const plan = normalisePlan(r.out);
    for (const p of ['preflight', 'sync', 'images', 'clean', 'build'])
      expect(
        section(plan, p).some((l) => on('boulder', l)),
        `${p} on boulder`,
      ).toBe(true);
    expect(plan).toMatch(/^\[boulder\] \$ sudo -n ip -o link show dev enp179s0f1$/m);
    const updates = plan.split('\n').filter((l) => l.includes('/updateForward'));
    expect(updates.map((l) => /"sw_port":(\d+)/.exec(l)?.[1])).toEqual(['148', '156', '140']);
    const mig = section(plan, 'migrate');
    expect(
      mig.filter((l) => /^\[migrate\] migration \d \S+: start/.test(l)).map((l) => /migration \d (\S+):/.exec(l)?.[1]),
    ).toEqual(['lakewood→loveland', 'loveland→boulder', 'boulder→lakewood']);
    // boulder pulls from loveland's direct address, lakewood from boulder's
    expect(mig.some((l) => on('boulder', l) && /socat -u -T 5 TCP:192\.168\.10\.3:19500/.test(l))).toBe(true);
    expect(mig.some((l) => hostOf(l) === 'lakewood' && /socat -u -T 5 TCP:192\.168\.10\.4:19500/.test(l))).toBe(true);
    // the load generator stays on lakewood
    expect(plan).toMatch(/^\[lakewood\] background loadgen:/m);
  });
});
