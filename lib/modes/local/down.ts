// `down`: remove everything `up` created and nothing else.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SERVER_NAME } from '../../config/keys/servers.ts';
import {
  type HostLayout,
  requireRoot,
  type TestbedConfig,
  type TestbedLayout,
  testbedLayout,
  type TestbedOptions,
} from './layout.ts';
import { links, ipn, netnsList } from './links.ts';
import { run } from '../../hosts/run-local.ts';
import { showCommand } from '../../hosts/quote.ts';
import { comm, stopPids } from './procs.ts';
import { sshdProcess } from './sshd.ts';
import { emulateHwDown } from './emulate-hw.ts';

async function podmanNames(kind: 'container' | 'network', prefix: string, log: (m: string) => void): Promise<string[]> {
  const argv =
    kind === 'container'
      ? ['podman', 'ps', '-a', '--format', '{{.Names}}']
      : ['podman', 'network', 'ls', '--format', '{{.Name}}'];
  const r = await run(argv, { allowFail: true, timeoutMs: 30_000 });
  if (r.code !== 0) {
    // down goes on with the rest; say what may be left instead of reporting a clean removal
    log(
      `warning: \`${showCommand(argv)}\` exited with code ${r.code} (${(r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? ''}): podman ${kind}s named ${prefix}* were not removed`,
    );
    return [];
  }
  return r.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((n) => n.startsWith(prefix));
}

/**
 * Hosts `up` made (each has its folder under <stateDir>/<prefix>hosts) that the layout of this
 * config does not list. Removing their namespace removes their veths (and so their ends in the
 * switch namespace); the direct bridge lives in the switch namespace.
 */
function hostsUpMade(L: TestbedLayout): HostLayout[] {
  const dir = join(L.stateDir, `${L.prefix}hosts`);
  if (!existsSync(dir)) return [];
  const known = new Set(L.hosts.map((h) => h.name));
  const model = L.hosts[L.hosts.length - 1];
  return readdirSync(dir)
    .filter((n) => !known.has(n) && SERVER_NAME.test(n))
    .map((n) => ({ ...model, name: n, ns: `${L.prefix}${n}`, rootVeth: `${L.prefix}m${n}`, dir: join(dir, n) }));
}

/**
 * Remove everything testbedUp created and nothing else: podman containers and networks whose names
 * start with the prefix, our sshd (by recorded PID), processes left in our namespaces, our links,
 * bridge, nft table and namespaces. Keys and known_hosts stay for the next `up`. Idempotent.
 */
export async function testbedDown(config: TestbedConfig, opts: TestbedOptions = {}): Promise<{ removed: string[]; ms: number }> {
  const log = opts.log ?? ((m: string) => console.log(`[testbed] ${m}`));
  const t0 = Date.now();
  const L0 = testbedLayout(config, opts);
  // a testbed brought up with more SERVERS than this config names: its other hosts are ours too
  const L = { ...L0, hosts: [...L0.hosts, ...hostsUpMade(L0)] };
  requireRoot('testbed down');
  const removed: string[] = [];

  const hasPodman = (await run(['sh', '-c', 'command -v podman'], { allowFail: true })).code === 0;
  if (hasPodman) {
    const containers = await podmanNames('container', L.prefix, log);
    if (containers.length) {
      await run(['podman', 'rm', '-f', '-t', '0', ...containers], { timeoutMs: 60_000 });
      removed.push(...containers.map((c) => `container ${c}`));
      log(`removed podman containers ${containers.join(', ')}`);
    }
    const networks = await podmanNames('network', L.prefix, log);
    if (networks.length) {
      await run(['podman', 'network', 'rm', '-f', ...networks], { timeoutMs: 60_000 });
      removed.push(...networks.map((n) => `network ${n}`));
      log(`removed podman networks ${networks.join(', ')}`);
    }
  }

  const sshds = L.hosts.map((h) => ({ h, p: sshdProcess(h) })).filter((x) => x.p.ours);
  await stopPids(sshds.map((x) => x.p.pid!));
  for (const { h, p } of sshds) {
    removed.push(`sshd ${h.name} (PID ${p.pid})`);
    log(`stopped sshd on ${h.name} (PID ${p.pid})`);
  }
  for (const h of L.hosts) rmSync(join(h.dir, 'sshd.pid'), { force: true });

  const nss = await netnsList();
  const ours = L.hosts.filter((h) => nss.has(h.ns));
  // Whatever still runs in our namespaces (switch model, controller, SSH sessions started over
  // this testbed) would keep each namespace, and its links, alive after `ip netns del`.
  const leftovers: number[] = [];
  for (const h of ours) {
    const r = await run(['ip', 'netns', 'pids', h.ns], { allowFail: true });
    for (const s of r.stdout.split('\n')) if (/^\d+$/.test(s.trim())) leftovers.push(Number(s));
  }
  if (leftovers.length) {
    log(
      `stopping ${leftovers.length} processes left in the testbed namespaces: ${leftovers.map((p) => `${p} ${comm(p)}`).join(', ')}`,
    );
    await stopPids(leftovers, 3_000);
  }

  // Delete links explicitly: namespace teardown is asynchronous, and a quick `up` after `down`
  // must not meet the root-side veths of the old namespaces.
  const rootLinks = await links();
  for (const h of L.hosts) {
    if (rootLinks.has(h.rootVeth)) {
      await run(['ip', 'link', 'del', h.rootVeth]);
      removed.push(`link ${h.rootVeth}`);
    }
  }
  for (const v of L.veths.filter((x) => x.a.ns && nss.has(x.a.ns))) {
    const r = await run(ipn(v.a.ns, 'link', 'del', v.a.ifname), { allowFail: true });
    if (r.code === 0) removed.push(`link ${v.a.ifname}`);
  }
  if (rootLinks.has(L.bridge.name)) {
    await run(['ip', 'link', 'del', L.bridge.name]);
    removed.push(`bridge ${L.bridge.name}`);
  }
  for (const h of ours) {
    await run(['ip', 'netns', 'del', h.ns]);
    removed.push(`namespace ${h.ns}`);
  }
  const nft = await run(['nft', 'delete', 'table', 'inet', L.nftTable], { allowFail: true });
  if (nft.code === 0) removed.push(`nft table ${L.nftTable}`);
  removed.push(...(await emulateHwDown(L, log)));

  const ms = Date.now() - t0;
  log(
    `testbed ${L.prefix}* down in ${(ms / 1000).toFixed(1)} s (${removed.length ? `removed ${removed.length}: ${removed.join(', ')}` : 'nothing was there'})`,
  );
  return { removed, ms };
}
