// Reading and naming the testbed's network pieces with iproute2: namespaces, links per namespace.
import { run } from '../../hosts/run-local.ts';

export interface LinkInfo {
  ifname: string;
  operstate: string;
  flags: string[];
  master?: string;
  mtu: number;
}

export async function netnsList(): Promise<Set<string>> {
  const r = await run(['ip', '-j', 'netns', 'list'], { allowFail: true });
  const list = r.code === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as { name: string }[]) : [];
  return new Set(list.map((n) => n.name));
}

export async function links(ns?: string): Promise<Map<string, LinkInfo>> {
  const r = await run(['ip', ...(ns ? ['-n', ns] : []), '-j', 'link', 'show']);
  const arr = JSON.parse(r.stdout || '[]') as LinkInfo[];
  return new Map(arr.map((l) => [l.ifname, l]));
}

export const ipn = (ns: string | undefined, ...args: string[]): string[] => ['ip', ...(ns ? ['-n', ns] : []), ...args];
