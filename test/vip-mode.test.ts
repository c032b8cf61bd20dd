// MIGRATION_MODE=vip without a testbed: the checkpoint edits on an extracted checkpoint folder
// (through the real p4cf-net bundle), the controller config, the load generator's target, the
// engine overlay's scripts, the config refusals and the analysis of a vip run folder.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controllerConfigFromP4cf } from '../controller/config-from-p4cf.ts';
import { loadgenArgs } from '../experiments/workload/commands.ts';
import { modeOf, clientsSawOnlyVip } from '../experiments/analysis/mode.ts';
import type { RunData } from '../experiments/analysis/load.ts';
import { loadConfig } from '../lib/config/load.ts';
import { ConfigError } from '../lib/config/values.ts';
import { encodeFields, FILES_MAGIC, inetSockets, ipv4Word, writeImage } from '../lib/migration/criu-image.ts';
import { rewriteCheckpointDir } from '../lib/migration/ckpt-rewrite.ts';
import { rewriteTarScript, startRewriterScript, summarizePeers, withMigrationMode } from '../lib/migration/vip.ts';
import { podmanEngine } from '../lib/migration/podman.ts';
import { ensureLocalNetTool } from '../lib/nettool/index.ts';
import { backendOn, extraBackends, serviceIp } from '../lib/server/backend.ts';
import { containerNetScript, serverNode } from '../lib/server/net.ts';
import type { MigrationRun } from '../lib/migration/steps.ts';
import { createLocalHost } from '../lib/hosts/local.ts';
import { createCleanup } from '../lib/run/cleanup.ts';
import { createLogger } from '../lib/run/log.ts';

const tmp = mkdtempSync(join(tmpdir(), 'p4cf-vip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const cfg = (...set: string[]) => loadConfig({ cwd: tmp, env: {}, argv: set.flatMap((s) => ['--set', s]) }).config;
const refused = (...set: string[]): string => {
  try {
    cfg(...set);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return 'accepted';
};

const v = (no: number, value: bigint | number) => ({ no, wire: 0, value: BigInt(value) });
const inetEntry = (id: number, src: string, sport: number, dst: string, dport: number) =>
  encodeFields([
    v(1, 2),
    v(2, id),
    {
      no: 4,
      wire: 2,
      value: encodeFields([v(1, id), v(3, 2), v(7, sport), v(8, dport), v(11, ipv4Word(src)), v(12, ipv4Word(dst))]),
    },
  ]);

/** An extracted podman checkpoint as far as the rewrite reads it (field names as podman 4.3 writes them). */
function checkpointDir(name: string): string {
  const d = join(tmp, name);
  mkdirSync(join(d, 'checkpoint'), { recursive: true });
  writeFileSync(
    join(d, 'checkpoint', 'files.img'),
    writeImage({
      magic: FILES_MAGIC,
      entries: [inetEntry(1, '192.168.12.2', 8080, '192.168.12.100', 40000), inetEntry(2, '0.0.0.0', 8080, '0.0.0.0', 0)],
    }),
  );
  writeFileSync(
    join(d, 'config.dump'),
    JSON.stringify({
      name: 'p4cf-server',
      newNetworks: { 'switch-net': { static_ips: ['192.168.12.2'], static_mac: '02:42:C0:A8:0C:02' } },
      other: '192.168.12.20',
    }),
  );
  writeFileSync(
    join(d, 'network.status'),
    JSON.stringify({
      'switch-net': {
        interfaces: { eth0: { subnets: [{ ipnet: '192.168.12.2/24', gateway: '192.168.12.1' }], mac_address: 'AkLAqAwC' } },
      },
    }),
  );
  return d;
}

describe('checkpoint rewrite for a new backend address', () => {
  const change = { oldIp: '192.168.12.2', newIp: '192.168.12.3', oldMac: '02:42:c0:a8:0c:02', newMac: '02:42:c0:a8:0c:03' };
  it('sockets, static IP/MAC and the network status take the new address; nothing else changes', () => {
    const d = checkpointDir('a');
    expect(rewriteCheckpointDir(d, change)).toEqual({ sockets: 1, config: 2, network: 2 });
    expect(inetSockets(readFileSync(join(d, 'checkpoint', 'files.img'))).map((s) => s.srcAddr)).toEqual([
      '192.168.12.3',
      '0.0.0.0',
    ]);
    const conf = JSON.parse(readFileSync(join(d, 'config.dump'), 'utf8'));
    expect(conf.newNetworks['switch-net']).toEqual({ static_ips: ['192.168.12.3'], static_mac: '02:42:c0:a8:0c:03' });
    expect(conf.other).toBe('192.168.12.20'); // a different address that merely starts the same way
    const net = JSON.parse(readFileSync(join(d, 'network.status'), 'utf8'))['switch-net'].interfaces.eth0;
    expect(net).toEqual({
      subnets: [{ ipnet: '192.168.12.3/24', gateway: '192.168.12.1' }],
      mac_address: Buffer.from([2, 0x42, 0xc0, 0xa8, 0x0c, 3]).toString('base64'),
    });
  });
  it('a config.dump without the old address is refused (the restore would keep it)', () => {
    const d = checkpointDir('b');
    writeFileSync(join(d, 'config.dump'), JSON.stringify({ name: 'x' }));
    expect(() => rewriteCheckpointDir(d, change)).toThrow(/config\.dump names neither 192\.168\.12\.2 nor 02:42:c0:a8:0c:02/);
  });
  it('through the bundled p4cf-net the hosts run', async () => {
    const tool = await ensureLocalNetTool();
    const d = checkpointDir('c');
    const out = execFileSync(
      process.execPath,
      [tool, 'ckpt-rewrite', d, change.oldIp, change.newIp, change.oldMac, change.newMac],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('rewrite sockets=1 config=2 network=2');
    // and on the archive as podman exports it (members edited where they lie)
    const e = checkpointDir('e');
    const tar = join(tmp, 'e.tar');
    execFileSync('tar', ['-C', e, '-cf', tar, 'config.dump', 'network.status', 'checkpoint']);
    const onTar = execFileSync(process.execPath, [tool, 'ckpt-rewrite', tar, ...Object.values(change)], { encoding: 'utf8' });
    expect(onTar.trim()).toBe('rewrite sockets=1 config=2 network=2 tar=in-place');
    expect(JSON.parse(execFileSync('tar', ['-xOf', tar, 'config.dump'], { encoding: 'utf8' })).newNetworks['switch-net']).toEqual(
      {
        static_ips: ['192.168.12.3'],
        static_mac: '02:42:c0:a8:0c:03',
      },
    );
    expect(() =>
      execFileSync(process.execPath, [tool, 'ckpt-rewrite', join(tmp, 'none'), ...Object.values(change)], { stdio: 'pipe' }),
    ).toThrow(/files\.img is missing/);
  });
});

/** Whether `pid` has ended within 5 s (a zombie awaiting its reaping counts as ended). */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const stat = (() => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch {
        return '';
      }
    })();
    if (!stat || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return true;
    await new Promise((res) => setTimeout(res, 100));
  }
  return false;
}

describe('vip mode wiring', () => {
  it('clients target the VIP; the container is H2 on lakewood and H3 on loveland', () => {
    const c = cfg('MIGRATION_MODE=vip');
    expect(serviceIp(c)).toBe('192.168.12.10');
    expect(loadgenArgs(c).slice(0, 2)).toEqual(['--url', 'ws://192.168.12.10:8080/']);
    expect(backendOn(c, 'loveland')).toEqual({ ip: '192.168.12.3', mac: '02:42:c0:a8:0c:03', key: 'H3' });
    expect(containerNetScript(c, serverNode(c, 'loveland'), 42)).toContain('192.168.12.3/24');
    const same = cfg();
    expect(loadgenArgs(same)[1]).toBe('ws://192.168.12.2:8080/');
    expect(backendOn(same, 'loveland').ip).toBe('192.168.12.2');
  });
  it('the controller has one member (the server) in vip mode, H3 a forward node; same-ip keeps both members', () => {
    const vip = controllerConfigFromP4cf(cfg('MIGRATION_MODE=vip'));
    expect(vip.nodes.filter((n) => n.is_lb_node).map((n) => n.ipv4)).toEqual(['192.168.12.2']);
    expect(vip.nodes.map((n) => n.ipv4)).toContain('192.168.12.3');
    expect(controllerConfigFromP4cf(cfg()).nodes.filter((n) => n.is_lb_node).length).toBe(2);
  });
  it('the engine overlay rewrites before the restore, and not when restoring on the source', () => {
    const c = cfg('MIGRATION_MODE=vip');
    const e = withMigrationMode(c, podmanEngine);
    expect(e.name).toBe('podman+vip');
    expect(withMigrationMode(cfg(), podmanEngine)).toBe(podmanEngine);
    const r = { c, source: 'lakewood' as const, target: 'loveland' as const, dstTar: '/x/checkpoint.tar', dstDir: '/x' };
    // the archive itself is edited: no unpack and pack of the checkpoint inside the downtime
    const cold = rewriteTarScript(r);
    expect(cold).toContain('ckpt-rewrite /x/checkpoint.tar 192.168.12.2 192.168.12.3 02:42:c0:a8:0c:02 02:42:c0:a8:0c:03');
    expect(cold).not.toMatch(/\btar -|kill -0/);
    // with a rewriter started ahead: `go` to it, its own start as the fallback
    const warm = rewriteTarScript(r, 4242);
    expect(warm).toMatch(/kill -0 4242 .*echo go > "\$1"' sh \/x\/\.p4cf-rewrite\.go; then/);
    expect(warm).toContain('ckpt-rewrite /x/checkpoint.tar');
    expect(startRewriterScript(r)).toMatch(
      /mkfifo \/x\/\.p4cf-rewrite\.go \/x\/\.p4cf-rewrite\.done\nsetsid timeout 300 node \S+p4cf-net\.mjs ckpt-rewrite-when /,
    );
    expect(rewriteTarScript({ ...r, target: 'lakewood' }, 4242)).not.toContain('ckpt-rewrite');
  });
  it('the rewriter started ahead edits the archive on `go`; a dead one is replaced by a fresh start', async () => {
    const tool = await ensureLocalNetTool();
    // REMOTE_PROJECT_DIR where this checkout's bundle is, so the target scripts run here as they would there
    const c = { ...cfg('MIGRATION_MODE=vip'), REMOTE_PROJECT_DIR: dirname(tool) };
    const run = (script: string) => execFileSync('sh', ['-c', script], { encoding: 'utf8' });
    for (const kind of ['warm', 'cold'] as const) {
      const dstDir = join(tmp, `ahead-${kind}`);
      const d = checkpointDir(`ahead-src-${kind}`);
      mkdirSync(dstDir, { recursive: true });
      const dstTar = join(dstDir, 'checkpoint.tar');
      execFileSync('tar', ['-C', d, '-cf', dstTar, 'config.dump', 'network.status', 'checkpoint']);
      const r = { c, source: 'lakewood' as const, target: 'loveland' as const, dstTar, dstDir };
      const pid = Number(/^rewriter (\d+) \d+$/m.exec(run(startRewriterScript(r)))?.[1]);
      expect(pid).toBeGreaterThan(1);
      if (kind === 'cold') {
        process.kill(-pid, 'SIGKILL'); // its group: timeout and the node under it
        await new Promise((res) => setTimeout(res, 200));
      }
      const out = run(rewriteTarScript(r, pid));
      expect(out).toContain(`rewriter ${kind}`);
      expect(out).toContain('rewrite sockets=1 config=2 network=2 tar=in-place');
      expect(out).toMatch(/^mark ckpt_rewritten \d+$/m);
      expect(
        JSON.parse(execFileSync('tar', ['-xOf', dstTar, 'config.dump'], { encoding: 'utf8' })).newNetworks['switch-net']
          .static_ips,
      ).toEqual(['192.168.12.3']);
      expect(readdirSync(dstDir)).toEqual(['checkpoint.tar']);
      // the warm rewriter has finished; the killed one is gone
      expect(await gone(pid), `rewriter ${pid} still runs`).toBe(true);
    }
  });
  it('a rewriter started ahead whose FIFO closes without `go` ends and touches nothing', async () => {
    const tool = await ensureLocalNetTool();
    const c = { ...cfg('MIGRATION_MODE=vip'), REMOTE_PROJECT_DIR: dirname(tool) };
    const dstDir = join(tmp, 'ahead-none');
    mkdirSync(dstDir, { recursive: true });
    const dstTar = join(dstDir, 'checkpoint.tar');
    writeFileSync(dstTar, 'not touched');
    const pid = Number(
      /^rewriter (\d+) \d+$/m.exec(
        execFileSync('sh', ['-c', startRewriterScript({ c, source: 'lakewood', target: 'loveland', dstTar, dstDir })], {
          encoding: 'utf8',
        }),
      )?.[1],
    );
    execFileSync('sh', ['-c', `timeout 5 sh -c ': > "$1"' sh ${join(dstDir, '.p4cf-rewrite.go')}`]);
    expect(await gone(pid), `rewriter ${pid} still runs`).toBe(true);
    expect(readFileSync(dstTar, 'utf8')).toBe('not touched');
  });
  it("a migration that fails before its restore: the run's cleanup stops the waiting rewriter; a restore releases that undo", async () => {
    const tool = await ensureLocalNetTool();
    const c = { ...cfg('MIGRATION_MODE=vip'), REMOTE_PROJECT_DIR: dirname(tool) };
    const log = createLogger({ out: { write: () => true } as never, err: { write: () => true } as never, tty: false });
    const e = withMigrationMode(c, { ...podmanEngine, prepareTarget: { run: async () => {} } });
    for (const ends of ['failure', 'restore'] as const) {
      const cleanup = createCleanup({ log });
      const dstDir = join(tmp, `undo-${ends}`);
      const r = {
        c,
        source: 'lakewood',
        target: 'loveland',
        dstTar: join(dstDir, 'checkpoint.tar'),
        dstDir,
        dst: createLocalHost(),
        ctx: { cleanup },
        v: { extra: {} },
      } as unknown as MigrationRun;
      await e.prepareTarget.run(r);
      const pending = cleanup.pending();
      expect(pending).toEqual([expect.stringMatching(/^stop the checkpoint rewriter on loveland \(pid \d+\)$/)]);
      const pid = Number(/pid (\d+)/.exec(pending[0])?.[1]);
      if (ends === 'restore') {
        e.restore.read?.(r, { values: {}, marks: {} } as never);
        expect(cleanup.pending()).toEqual([]);
        process.kill(-pid, 'SIGTERM');
      } else await cleanup.runAll('test');
      expect(await gone(pid), `rewriter ${pid} still runs`).toBe(true);
    }
  });
  it('summarizes what the clients are connected to', () => {
    expect(summarizePeers('192.168.12.10:8080\n192.168.12.10:8080\n\n')).toBe('192.168.12.10:8080 x2');
  });
});

describe('bad vip combinations are refused before anything runs, naming the key', () => {
  it('a VIP that is a backend address', () => {
    expect(refused('MIGRATION_MODE=vip', 'VIP=192.168.12.3')).toMatch(
      /VIP=192\.168\.12\.3 \(from --set\) is also the backend address H3_IP/,
    );
  });
  it('a VIP outside the container subnet', () => {
    expect(refused('MIGRATION_MODE=vip', 'VIP=10.1.2.3')).toMatch(
      /VIP=10\.1\.2\.3 \(from --set\) is outside HW_SUBNET=192\.168\.12\.0\/24/,
    );
  });
  it('one MAC for both backends', () => {
    expect(refused('MIGRATION_MODE=vip', 'H3_MAC=02:42:c0:a8:0c:02')).toMatch(
      /H3_MAC=02:42:c0:a8:0c:02 \(from --set\) equals H2_MAC/,
    );
  });
  it('an unknown mode', () => {
    expect(refused('MIGRATION_MODE=nat')).toMatch(/MIGRATION_MODE/);
  });
});

describe('BACKENDS', () => {
  it('backends 2..N are spread over the servers with their own addresses, each a selector member', () => {
    const c = cfg('MIGRATION_MODE=vip', 'BACKENDS=4');
    expect(extraBackends(c)).toEqual([
      { k: 2, name: 'p4cf-server-b2', server: 'loveland', ip: '192.168.12.22', mac: '02:42:c0:a8:0c:16' },
      { k: 3, name: 'p4cf-server-b3', server: 'lakewood', ip: '192.168.12.23', mac: '02:42:c0:a8:0c:17' },
      { k: 4, name: 'p4cf-server-b4', server: 'loveland', ip: '192.168.12.24', mac: '02:42:c0:a8:0c:18' },
    ]);
    const nodes = controllerConfigFromP4cf(c).nodes;
    expect(nodes.filter((n) => n.is_lb_node).map((n) => [n.ipv4, n.sw_port])).toEqual([
      ['192.168.12.2', 140],
      ['192.168.12.22', 148],
      ['192.168.12.23', 140],
      ['192.168.12.24', 148],
    ]);
    expect(extraBackends(cfg())).toEqual([]);
  });
  it('bad combinations are refused naming the key', () => {
    expect(refused('MIGRATION_MODE=vip', 'BACKENDS=5')).toMatch(/^BACKENDS="5" \(from --set\): expected an integer/);
    expect(refused('MIGRATION_MODE=vip', 'BACKENDS=0')).toMatch(/^BACKENDS="0" \(from --set\)/);
    expect(refused('BACKENDS=2')).toMatch(/BACKENDS=2 \(from --set\) needs MIGRATION_MODE=vip/);
    // a VIP that is a backend's address
    expect(refused('MIGRATION_MODE=vip', 'BACKENDS=3', 'VIP=192.168.12.23')).toMatch(
      /BACKENDS=3 \(from --set\): backend 3 takes 192\.168\.12\.23 .* is VIP=192\.168\.12\.23 \(from --set\)/,
    );
  });
});

describe('analysis of the mode', () => {
  const run = (mode: string | undefined, peers: string): RunData => ({
    dir: '/r',
    name: 'r',
    format: 'p4cf',
    manifest: null,
    metrics: null,
    notes: [],
    config: mode
      ? {
          MIGRATION_MODE: { value: mode, origin: '--set' },
          VIP: { value: '192.168.12.10', origin: 'default' },
          H2_IP: { value: '192.168.12.2', origin: 'default' },
        }
      : {},
    timings: [
      {
        index: 1,
        source: 'json',
        file: 'f',
        ms: { start: null, checkpointDone: null, transferDone: null, restoreDone: null, switchDone: null, end: null },
        values: {
          backend_ip_before: '192.168.12.2',
          backend_ip_after: '192.168.12.3',
          client_peers: peers,
          server_ip: '192.168.12.3',
        },
      },
    ],
  });
  it('vip: the backend IP changed and the clients saw only the VIP (or not)', () => {
    const m = modeOf(run('vip', '192.168.12.10:8080 x4'));
    expect(m.mode).toBe('vip');
    expect(m.migrations[0]).toMatchObject({ backend_ip_before: '192.168.12.2', backend_ip_after: '192.168.12.3' });
    expect(clientsSawOnlyVip(m)).toBe(true);
    expect(clientsSawOnlyVip(modeOf(run('vip', '192.168.12.10:8080 x3, 192.168.12.3:8080 x1')))).toBe(false);
  });
  it('a run folder without the key is the published same-ip experiment', () => {
    expect(modeOf(run(undefined, '')).mode).toBe('same-ip');
  });
});
