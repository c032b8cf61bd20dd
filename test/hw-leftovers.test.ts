// Issue 11 2d: what other tools left on the lab hosts is found before anything changes, refused
// with one message naming each and the command that removes them, and removed by
// clean.ts --foreign's removeLeftovers only when confirmed. Real processes, listeners and a real
// macvlan, inside a private PID/network namespace; the container check runs this machine's podman.
// Its processes named bf_switchd are visible from the machine's own PID namespace (an emulated-
// hardware run's pgrep would see them): run it under the testbed lock, like the namespace tests.
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/config/load.ts';
import type { Config } from '../lib/config/keys.ts';
import type { Host, HostName } from '../lib/hosts/types.ts';
import {
  findLeftovers,
  ForeignLeftoversError,
  NotConfirmedError,
  parseContainers,
  refuseLeftovers,
  removeLeftovers,
} from '../lib/modes/hw/leftovers.ts';
import { openPidNs, type PidNs } from './helpers/pidns.ts';

describe('parseContainers', () => {
  it('reads the inspect template: id, name, p4cf label, addresses', () => {
    const rows = parseContainers(
      'abc123def4567890|/stream-server|<no value>|192.168.12.2,\nfff000|p4cf-server|1|192.168.12.2,10.88.0.4,\n\n',
    );
    expect(rows).toEqual([
      { id: 'abc123def4567890', name: 'stream-server', label: '<no value>', ips: ['192.168.12.2'] },
      { id: 'fff000', name: 'p4cf-server', label: '1', ips: ['192.168.12.2', '10.88.0.4'] },
    ]);
  });
});

const root = process.getuid?.() === 0;
if (!root) console.log('hw-leftovers.test.ts: skipped — needs root (PID/network namespace, macvlan)');

describe.skipIf(!root)('leftovers of other tools (private namespace)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'p4hw-left-'));
  let ns: PidNs;
  let config: Config;
  let ctx: { config: Config; host(n: HostName): Host; log: { warn(m: string): void } };
  let warned: string[];
  afterAll(() => {
    ns?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const alive = async (pid: number) => {
    const r = await ctx
      .host('tofino')
      .exec(`awk '{ sub(/^.*\\) /, ""); print $1 }' /proc/${pid}/stat 2>/dev/null`, { quiet: true, allowFail: true });
    return r.stdout.trim() !== '' && r.stdout.trim() !== 'Z';
  };
  const pidOf = async (pattern: string) => {
    const r = await ctx.host('tofino').exec(`pgrep -f -- '${pattern}' | head -n1`, { quiet: true });
    return Number(r.stdout.trim());
  };

  beforeEach(async () => {
    ns?.close();
    ns = await openPidNs();
    // an address nobody else on this machine uses, so real containers of other checkouts never match
    config = loadConfig({
      cwd: tmp,
      env: {},
      argv: [
        '--set',
        'TESTBED=hw',
        '--set',
        'TOFINO_SSH=lab@sw.lab.test',
        '--set',
        'LAKEWOOD_SSH=lab@lw.lab.test',
        '--set',
        'LOVELAND_SSH=lab@lv.lab.test',
        '--set',
        'H2_IP=192.168.12.222',
        '--set',
        `REMOTE_PROJECT_DIR=${tmp}/{host}`,
      ],
    }).config;
    const tofino = ns.host('tofino');
    const server = ns.host('lakewood', { netOnly: true });
    warned = [];
    ctx = { config, host: (n) => (n === 'tofino' ? tofino : server), log: { warn: (m) => warned.push(m) } };
    const bin = join(tmp, 'make-switch');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'bf_switchd'), '#!/bin/sh\nsleep 3600 &\nwait\n');
    chmodSync(join(bin, 'bf_switchd'), 0o755);
    await tofino.exec(
      [
        'set -e',
        // the Python controller of the bash scripts, on CONTROLLER_PORT
        `setsid nohup python3 -c 'import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", ${config.CONTROLLER_PORT})); s.listen(); time.sleep(3600)' >/dev/null 2>&1 </dev/null &`,
        // `make switch` of the tofino2 repository: another program than ARCH=tf1's
        `setsid nohup ${bin}/bf_switchd --install-dir /opt/bf-sde/install --conf-file /opt/bf-sde/install/share/p4/targets/tofino2/t2na_load_balancer.conf >/dev/null 2>&1 </dev/null &`,
        // the bash scripts' shim
        'ip link add p4tnic0 type veth peer name p4tnic1 && ip link add macshim link p4tnic0 type macvlan mode vepa',
        `ip addr add ${config.SHIM_IP}/24 dev macshim`,
        'sleep 0.5',
      ].join('\n'),
    );
  });

  it('refuses with one message naming each leftover and the command that removes them all', async () => {
    const e = await refuseLeftovers(ctx).catch((x) => x);
    expect(e).toBeInstanceOf(ForeignLeftoversError);
    const py = await pidOf('python3 -c import socket');
    const sw = await pidOf('t2na_load_balancer.conf');
    expect(e.message).toMatch(new RegExp(`\\[tofino\\] pid ${py} \\(\\S*python3 -c import socket`));
    expect(e.message).toMatch(/listens on the controller port 5000 \(CONTROLLER_PORT\)/);
    expect(e.message).toContain(`[tofino] pid ${sw} (/bin/sh ${tmp}/make-switch/bf_switchd --install-dir`);
    expect(e.message).toMatch(/does not name tna_load_balancer \(ARCH=tf1\)/);
    expect(e.message).toMatch(/\[lakewood\] macvlan macshim \(192\.168\.12\.100\/24\) was not made by p4cf/);
    expect(e.message).toMatch(/remove: ip link del macshim/);
    expect(e.message).toContain('npx tsx experiments/clean.ts --foreign');
    expect(e.leftovers.map((l: { kind: string }) => l.kind).sort()).toEqual(['listener', 'shim', 'switchd']);
  });

  it('leaves out what p4cf made: its recorded controller, its aliased shim; a switchd of the right program is only a warning', async () => {
    const tofino = ctx.host('tofino');
    const py = await pidOf('python3 -c import socket');
    mkdirSync(join(tmp, 'tofino'), { recursive: true });
    await tofino.exec(
      `echo "${py} $(awk '{print $22}' /proc/${py}/stat)" > ${tmp}/tofino/controller.pid && ip link set macshim alias p4cf`,
    );
    await tofino.exec(
      `kill ${await pidOf('t2na_load_balancer.conf')}; setsid nohup ${tmp}/make-switch/bf_switchd --conf-file /x/tna_load_balancer.conf >/dev/null 2>&1 </dev/null & sleep 0.3`,
    );
    await expect(refuseLeftovers(ctx)).resolves.toBeUndefined();
    expect(warned.join('\n')).toMatch(/serving tna_load_balancer: the switchd phase adopts it/);
  });

  it('clean --foreign removes nothing unconfirmed, and everything once confirmed', async () => {
    const py = await pidOf('python3 -c import socket');
    const sw = await pidOf('t2na_load_balancer.conf');
    const said: string[] = [];
    const say = (l: string) => said.push(l);
    await expect(removeLeftovers(ctx, { yes: false, includeAdoptable: false, say })).rejects.toThrow(NotConfirmedError);
    await expect(removeLeftovers(ctx, { yes: false, ask: async () => false, includeAdoptable: false, say })).rejects.toThrow(
      /not confirmed: nothing removed/,
    );
    expect(await alive(py)).toBe(true);
    expect((await findLeftovers(ctx)).length).toBe(3);
    let asked = '';
    const removed = await removeLeftovers(ctx, {
      yes: false,
      ask: async (q) => {
        asked = q;
        return true;
      },
      includeAdoptable: false,
      say,
    });
    expect(asked).toBe('remove these 3? [y/N] ');
    expect(removed).toHaveLength(3);
    expect(said.join('\n')).toMatch(/found 3 leftover\(s\) of other tools/);
    expect(await alive(py)).toBe(false);
    expect(await alive(sw)).toBe(false);
    expect(await findLeftovers(ctx)).toEqual([]);
  });
});
