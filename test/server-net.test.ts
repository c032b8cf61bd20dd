// The server's network scripts run for real inside a network namespace (root): the MAC check
// must see the namespace's eth0 (not the root namespace's, which /sys under nsenter shows), the
// drain must count the namespace's queued bytes and never report an unreadable namespace as
// drained, and a missing arping is reported.
// Run under the machine-wide lock: flock /tmp/p4cf-testbed.lock npx vitest run test/server-net.test.ts
import { defaultConfig } from '../lib/config/load.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARPING_MISSING, containerNetScript, drainScript, serverNode } from '../lib/server/net.ts';
import { isRoot, warnIfNotRoot } from './helpers/env.ts';
import { inNs, netns } from './helpers/netns.ts';

const config = defaultConfig();
const P = 'p4h2n-';
const run = (script: string) => spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 20_000 });

warnIfNotRoot('server network scripts in a real netns');
describe.skipIf(!isRoot)('server network scripts in a real network namespace (root)', () => {
  const ns = netns(P);
  const procs: ChildProcess[] = [];
  /** A process living in the namespace, whose PID the scripts enter as they would a container's. */
  const inside = async (name: string, argv: string[], ready?: RegExp): Promise<number> => {
    const p = spawn('ip', ['netns', 'exec', name, ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(p);
    if (ready) {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        p.stdout!.on('data', (b) => {
          out += b;
          if (ready.test(out)) resolve();
        });
        p.once('exit', (c) => reject(new Error(`${argv.join(' ')} exited ${c} before ${ready}: ${out}`)));
      });
    } else {
      await new Promise((r) => setTimeout(r, 200));
    }
    return p.pid!;
  };

  beforeAll(async () => {
    await ns.add(`${P}mac`);
    await ns.veth({ ns: `${P}mac`, name: `${P}a` }, { ns: `${P}mac`, name: `${P}b` });
    await inNs(`${P}mac`, 'ip', ['link', 'set', 'dev', `${P}a`, 'down']);
    await inNs(`${P}mac`, 'ip', ['link', 'set', 'dev', `${P}a`, 'name', 'eth0', 'address', config.H2_MAC.toLowerCase()]);
    await inNs(`${P}mac`, 'ip', ['addr', 'add', `${config.H2_IP}/24`, 'dev', 'eth0']);
    await inNs(`${P}mac`, 'ip', ['link', 'set', 'dev', 'eth0', 'up']);
    await ns.add(`${P}dr`);
  });

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await ns.cleanup();
  });

  it('keeps an eth0 that already has the fixed MAC (reads it in the netns, not /sys of the root)', async () => {
    const pid = await inside(`${P}mac`, ['sleep', '60']);
    const before = await inNs(`${P}mac`, 'ip', ['-o', 'link', 'show', 'dev', 'eth0']);
    const r = run(containerNetScript(config, serverNode(config, 'loveland'), pid));
    expect(r.stdout).not.toMatch(/re-creating/);
    expect(r.status, r.stderr).toBe(0);
    // the same device (same ifindex), untouched, with the script's route and neighbour entries
    expect((await inNs(`${P}mac`, 'ip', ['-o', 'link', 'show', 'dev', 'eth0'])).split(':')[0]).toBe(before.split(':')[0]);
    expect(await inNs(`${P}mac`, 'ip', ['route', 'show', config.HW_SUBNET])).toMatch(/rto_min lock 5ms|rto_min 5ms/);
    expect(await inNs(`${P}mac`, 'ip', ['neigh', 'show', config.SHIM_IP])).toMatch(/PERMANENT/);
    const hasArping = run('command -v arping').status === 0;
    if (!hasArping) expect(r.stdout).toContain(ARPING_MISSING);
    else expect(r.stdout).not.toContain(ARPING_MISSING);
  });

  it('drain: empty queues are seen at the first read; queued bytes hold it until the timeout', async () => {
    const idle = await inside(`${P}dr`, ['sleep', '60']);
    expect(run(drainScript(idle, 300)).stdout.trim()).toBe('drained polls=0');
    // a receiver that never reads: the sender's bytes stay queued
    const stuck = await inside(
      `${P}dr`,
      [
        'node',
        '-e',
        `
      const net = require('net');
      const srv = net.createServer((s) => s.pause()).listen(7001, '127.0.0.1', () => {
        const c = net.connect(7001, '127.0.0.1', () => {
          const chunk = Buffer.alloc(1 << 20);
          const fill = () => { while (c.write(chunk)); console.log('full'); };
          fill();
        });
      });
      setTimeout(() => process.exit(0), 30000);`,
      ],
      /full/,
    );
    await new Promise((r) => setTimeout(r, 300));
    const out = run(drainScript(stuck, 300)).stdout.trim();
    expect(out).toMatch(/^timeout sendq=\d+$/);
    expect(Number(out.split('=')[1])).toBeGreaterThan(0);
  });

  it('drain: a namespace it cannot read is reported, not taken as drained', () => {
    expect(run(drainScript(999_999_999, 300)).stdout.trim()).toBe('unreadable /proc/999999999/net/tcp');
  });
});
