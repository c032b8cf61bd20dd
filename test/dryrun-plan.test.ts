// The dry-run plan: `experiments/run.ts --config config_hw.env.example --dry-run --migrations 2`
// prints every command each phase would run on each host, without touching any. Its output is
// kept as a file snapshot so a change to what a hardware run does shows up in review.
// Update after an intended change with: npx vitest run test/dryrun-plan.test.ts -u
// The vip-mode and redis plans have their own snapshots (dryrun-hw-vip.txt, dryrun-hw-redis.txt).
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

// The other scenarios take hardware branches of their own: each plan is a snapshot too.
const hwPlan = (set: string[]) => {
  const r = runDry(['--config', 'config_hw.env.example', '--migrations', '2', ...set.flatMap((kv) => ['--set', kv])]);
  expect(r.status, r.out.split('\n').slice(-15).join('\n')).toBe(0);
  return normalisePlan(r.out);
};

describe('hardware dry run, MIGRATION_MODE=vip', () => {
  it('moves the selector member, rewrites the checkpoint on the target before the restore, clients only at the VIP', async () => {
    const plan = hwPlan(['MIGRATION_MODE=vip']);
    for (const p of ['preflight', 'build', 'workload', 'migrate', 'post', 'analyze'])
      expect(plan, p).toMatch(new RegExp(`^=== ${p} ok in`, 'm'));
    const http = plan.split('\n').filter((l) => l.startsWith('[local] ') && / http:\/\//.test(l));
    // vip mode keeps client_snat (replies leave with the VIP), and moves the member instead of the forward entry
    expect(http.filter((l) => l.includes('/deleteClientSnat'))).toEqual([]);
    expect(http.filter((l) => l.includes('/updateForward'))).toEqual([]);
    expect(http.filter((l) => l.includes('/migrateNode'))).toEqual([
      '[local] POST http://127.0.0.1:<forwarded port>/migrateNode {"old_ipv4":"192.168.12.2","new_ipv4":"192.168.12.3"}',
      '[local] POST http://127.0.0.1:<forwarded port>/migrateNode {"old_ipv4":"192.168.12.3","new_ipv4":"192.168.12.2"}',
    ]);
    expect(plan).toMatch(/^\[lakewood\] background loadgen: .*--url ws:\/\/192\.168\.12\.10:8080\//m);
    const mig = section(plan, 'migrate');
    const at = (host: string, re: RegExp) => mig.findIndex((l) => hostOf(l) === host && re.test(l));
    // H2 → H3 on loveland: the rewrite of the imported checkpoint comes before its restore, then H3 → H2 on lakewood
    const rewrite = at(
      'loveland',
      /p4cf-net\.mjs ckpt-rewrite \/var\/tmp\/p4cf\/loveland\/checkpoints\/checkpoint\.tar 192\.168\.12\.2 192\.168\.12\.3 02:42:c0:a8:0c:02 02:42:c0:a8:0c:03/,
    );
    expect(rewrite).toBeGreaterThan(0);
    expect(at('loveland', /podman container restore --import /)).toBeGreaterThan(rewrite);
    expect(at('loveland', /ip addr add 192\.168\.12\.3\/24 dev eth0/)).toBeGreaterThan(rewrite);
    expect(
      at(
        'lakewood',
        /p4cf-net\.mjs ckpt-rewrite \/var\/tmp\/p4cf\/lakewood\/checkpoints\/checkpoint\.tar 192\.168\.12\.3 192\.168\.12\.2 02:42:c0:a8:0c:03 02:42:c0:a8:0c:02/,
      ),
    ).toBeGreaterThan(0);
    // the clients' peers are read after each switch (they must name the VIP only)
    expect(mig.filter((l) => /^\[lakewood\] \$ (sudo -n )?ss -Htn state established '\( dport = :8080 \)'/.test(l))).toHaveLength(
      2,
    );
    await expect(plan).toMatchFileSnapshot('__snapshots__/dryrun-hw-vip.txt');
  });
});

describe('hardware dry run, WORKLOAD=redis', () => {
  it('checks and builds the redis image on lakewood, runs the RESP client, and has no quiesce signal', async () => {
    const plan = hwPlan(['WORKLOAD=redis', 'STATE_MB=16']);
    for (const p of ['preflight', 'images', 'workload', 'migrate', 'post', 'analyze'])
      expect(plan, p).toMatch(new RegExp(`^=== ${p} ok in`, 'm'));
    expect(section(plan, 'preflight').filter((l) => l.includes('redis-server'))).toEqual([
      '[lakewood] $ sudo -n test -x /usr/bin/redis-server',
    ]);
    const images = section(plan, 'images');
    expect(images.some((l) => /^\[lakewood\] \$ sudo -n ldd \/usr\/bin\/redis-server$/.test(l))).toBe(true);
    expect(images.some((l) => /^\[lakewood\] \$ sudo -n podman import .*localhost\/p4cf-redis-server$/.test(l))).toBe(true);
    expect(images.some((l) => /^\[loveland\] \$ sudo -n podman load /.test(l))).toBe(true);
    expect(plan).toMatch(
      /^\[lakewood\] \$ sudo -n podman run -d --name p4cf-server .* localhost\/p4cf-redis-server --port 8080 .*--save '' --appendonly no/m,
    );
    expect(plan).toMatch(
      /^\[lakewood\] background loadgen: .*redis-client\.mjs --host 192\.168\.12\.2 --port 8080 .*--state-mb 16/m,
    );
    // nothing of the stream workload: no stream server bundle, no SIGUSR2 quiesce
    expect(plan).not.toMatch(/stream-server\.mjs|loadgen\.mjs/);
    const mig = section(plan, 'migrate');
    expect(mig.filter((l) => /kill -USR2/.test(l))).toEqual([]);
    expect(mig.filter((l) => /echo "quiesce none"/.test(l))).toHaveLength(2);
    await expect(plan).toMatchFileSnapshot('__snapshots__/dryrun-hw-redis.txt');
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
