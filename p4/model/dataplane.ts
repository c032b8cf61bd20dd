// Applies the table state to the kernel: the nftables ruleset (one atomic transaction) and
// the link state of the ports written in `$PORT`. `dry` keeps everything in memory only.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { Schema } from './schema.ts';
import { tableBySuffix } from './schema.ts';
import { type State, keyUint } from './tables.ts';
import { renderRuleset } from './nft.ts';

const run = promisify(execFile);

export interface Dataplane {
  /** Throws (state unchanged in the kernel) if the transaction is refused. */
  apply(state: State): Promise<{ warnings: string[] }>;
  close(): Promise<void>;
}

export interface DataplaneOpts { schema: Schema; ports: Map<number, string>; tableName: string; dry: boolean; log: (line: string) => void }

/** Feeds a ruleset to `nft -f -`; one file is one transaction, so the old rules stay on failure. */
export function nftApply(text: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('nft', ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', (e) => { clearTimeout(timer); reject(new Error(`nft -f -: ${e.message}`)); });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`nft -f - exited with ${code}: ${stderr.trim().split('\n').slice(-6).join(' | ')}`));
    });
    p.stdin.end(text);
  });
}

async function presentInterfaces(): Promise<Set<string>> {
  const { stdout } = await run('ip', ['-j', 'link', 'show'], { timeout: 10_000 });
  return new Set((JSON.parse(stdout) as { ifname: string }[]).map((l) => l.ifname));
}

async function setLink(ifname: string, up: boolean): Promise<void> {
  try {
    await run('ip', ['link', 'set', 'dev', ifname, up ? 'up' : 'down'], { timeout: 10_000 });
  } catch (e: any) {
    throw new Error(`ip link set dev ${ifname} ${up ? 'up' : 'down'} failed (exit ${e.code}): ${String(e.stderr ?? e.message).trim()}`);
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

  return {
    async apply(state) {
      if (o.dry) return { warnings: [] };
      const present = await presentInterfaces();
      const { text, warnings } = renderRuleset({ schema: o.schema, state, ports: o.ports, present, tableName: o.tableName });
      await nftApply(text);
      await applyPorts(state);
      return { warnings };
    },
    async close() {
      if (o.dry) return;
      await nftApply(`table netdev ${o.tableName} {}\ndelete table netdev ${o.tableName}\n`).catch((e) => o.log(`[dataplane] cleanup: ${e.message}`));
    },
  };
}

/** Validates dev ports written to `$PORT` against the --port mapping (when one is given). */
export function checkPortKnown(ports: Map<number, string>, port: number): string | undefined {
  if (ports.size === 0 || ports.has(port)) return undefined;
  return `dev port ${port} is not a port of this switch (known: ${[...ports.keys()].join(', ')})`;
}
