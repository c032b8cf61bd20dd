// The workload registry: WORKLOAD=<name> picks one of these records. Adding a workload = its
// folder, its name in names.ts and one line here.
import type { Config } from '../../lib/config/keys.ts';
import type { Workload } from './types.ts';
import type { WorkloadName } from './names.ts';
import { stream } from './stream/index.ts';
import { redis } from './redis/index.ts';

export const WORKLOADS = {
  stream,
  redis,
} as const satisfies Record<WorkloadName, Workload>;

export type { WorkloadName } from './names.ts';

/** The workload of a run (the config key is validated against this registry when loaded). */
export function workloadFor(c: Pick<Config, 'WORKLOAD'>): Workload {
  const w = (WORKLOADS as Record<string, Workload>)[c.WORKLOAD];
  if (!w)
    throw new Error(
      `WORKLOAD=${JSON.stringify(c.WORKLOAD)} has no workload; expected one of ${Object.keys(WORKLOADS).join(', ')}`,
    );
  return w;
}
/** Every workload's client program: a stale client recorded by an earlier run may be any of them. */
export const CLIENT_BUNDLES: readonly string[] = [...new Set(Object.values(WORKLOADS).map((w: Workload) => w.client.bundle))];
export type { Workload } from './types.ts';
