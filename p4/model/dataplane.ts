// Applies the table state to the kernel: the nftables ruleset (one atomic transaction) and
// the link state of the ports written in `$PORT`. `dry` keeps everything in memory only.
// A Write that only changes map contents (the usual forward/arp_forward/member/snat update) is
// applied as an element delta through a long-lived `nft -i`; anything structural (first apply,
// a member count that changes the hash modulus, a port interface appearing or re-created) or a
// refused delta replaces the whole table with `nft -f -`. Either way one Write is one transaction.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Schema } from './schema.ts';
import { tableBySuffix } from './schema.ts';
import { type State, keyUint } from './tables.ts';
import { type MapElements, renderDelta, renderRuleset } from './nft.ts';
import { createNftSession, isUnclean } from './nft-session.ts';
import { createInterfaces } from './ifaces.ts';

const run = promisify(execFile);

export interface Dataplane {
  /** Throws (state unchanged in the kernel) if the transaction is refused. */
  apply(state: State): Promise<{ warnings: string[] }>;
  close(): Promise<void>;
}

export interface DataplaneOpts {
  schema: Schema;
  ports: Map<number, string>;
  tableName: string;
  dry: boolean;
  log: (line: string) => void;
}

/** Feeds a ruleset to `nft -f -`; one file is one transaction, so the old rules stay on failure. */
export function nftApply(text: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`nft -f -: ${e.message}`));
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`nft -f - exited with ${code}: ${stderr.trim().split('\n').slice(-6).join(' | ')}`));
    });
    p.stdin.end(text);
  });
}

async function setLink(ifname: string, up: boolean): Promise<void> {
  try {
    await run('ip', ['link', 'set', 'dev', ifname, up ? 'up' : 'down'], { timeout: 10_000 });
  } catch (e: any) {
    throw new Error(
      `ip link set dev ${ifname} ${up ? 'up' : 'down'} failed (exit ${e.code}): ${String(e.stderr ?? e.message).trim()}`,
    );
  }
}

export function createDataplane(o: DataplaneOpts): Dataplane {
  const portT = tableBySuffix(o.schema, '$PORT');
  const enableId = portT?.data.find((d) => d.name === '$PORT_ENABLE')?.id;
  /** dev port → enabled, as last set on the link */
  const linkState = new Map<number, boolean>();

  async function applyPorts(state: State): Promise<void> {
    if (!portT) return;
    const wanted = new Map<number, boolean>();
    for (const e of state.get(portT.id)?.values() ?? []) {
      const v = e.data.get(enableId ?? -1);
      wanted.set(keyUint(e.key), v?.kind === 'bool' ? v.v : false);
    }
    // A deleted port goes down, as on the ASIC.
    for (const p of linkState.keys()) if (!wanted.has(p)) wanted.set(p, false);
    const present = new Set([...(state.get(portT.id)?.values() ?? [])].map((e) => keyUint(e.key)));
    for (const [port, up] of wanted) {
      const ifname = o.ports.get(port);
      if (linkState.get(port) !== up && ifname) {
        await setLink(ifname, up);
        o.log(`[dataplane] port ${port} (${ifname}) ${up ? 'up' : 'down'}`);
      }
      if (present.has(port)) linkState.set(port, up);
      else linkState.delete(port);
    }
  }

  const ifaces = o.dry ? undefined : createInterfaces(o.log);
  const session = o.dry ? undefined : createNftSession({ log: o.log });
  /** What the kernel holds, as far as we know: undefined forces the next apply to replace the table. */
  let applied: { structure: string; maps: Map<string, MapElements> } | undefined;

  async function applyRuleset(state: State): Promise<string[]> {
    const links = await ifaces!.current();
    const present = new Set(links.keys());
    const r = renderRuleset({ schema: o.schema, state, ports: o.ports, present, tableName: o.tableName });
    // Map elements and ingress hooks hold interface indices: a re-created port needs a full apply.
    const structure = `${r.skeleton}\n${[...o.ports.values()].map((n) => `${n}=${links.get(n) ?? '-'}`).join(' ')}`;
    if (applied?.structure === structure) {
      const delta = renderDelta(o.tableName, applied.maps, r.maps);
      if (delta === '') return r.warnings;
      try {
        await session!.run(delta);
        applied = { structure, maps: r.maps };
        return r.warnings;
      } catch (e: any) {
        // Refused (the kernel no longer holds what we applied?) or the session broke: the
        // full replacement below puts the kernel in a known state either way.
        o.log(`[dataplane] element update failed, replacing the table instead: ${e.message}`);
        if (isUnclean(e)) applied = undefined;
      }
    }
    // On failure the table stays as it was (unknown only if the session broke mid-batch: then
    // `applied` is already cleared and the next Write replaces the table again).
    await nftApply(r.text);
    applied = { structure, maps: r.maps };
    return r.warnings;
  }

  return {
    async apply(state) {
      if (o.dry) return { warnings: [] };
      const warnings = await applyRuleset(state);
      await applyPorts(state);
      return { warnings };
    },
    async close() {
      if (o.dry) return;
      ifaces!.close();
      await session!.close();
      await nftApply(`table netdev ${o.tableName} {}\ndelete table netdev ${o.tableName}\n`).catch((e) =>
        o.log(`[dataplane] cleanup: ${e.message}`),
      );
    },
  };
}

/** Validates dev ports written to `$PORT` against the --port mapping (when one is given). */
export function checkPortKnown(ports: Map<number, string>, port: number): string | undefined {
  if (ports.size === 0 || ports.has(port)) return undefined;
  return `dev port ${port} is not a port of this switch (known: ${[...ports.keys()].join(', ')})`;
}
