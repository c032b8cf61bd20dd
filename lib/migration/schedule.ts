// MIGRATION_SCHEDULE: which server each migration leaves and which it goes to, as a pure function of
// the schedule, SERVERS and the number of migrations, so a run (and its resume) always makes the
// same hops and the analysis can name them. The container starts on the schedule's first host;
// the load generator stays on LOADGEN_HOST whatever the schedule.
import type { Config } from '../config/keys.ts';
import type { ServerName } from '../hosts/types.ts';

export interface Hop {
  from: ServerName;
  to: ServerName;
}

type ScheduleConfig = Pick<Config, 'MIGRATION_SCHEDULE' | 'SERVERS'>;

/** A schedule string that load.ts did not validate (a typo in a caller). */
export class ScheduleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleError';
  }
}

/** mulberry32: a small seeded PRNG, so random:SEED is the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The hosts the container is on: before migration 1, after migration 1, …, after migration `count`. */
export function visits(schedule: string, servers: readonly ServerName[], count: number): ServerName[] {
  if (servers.length < 2) throw new ScheduleError(`a schedule needs two or more servers, got ${servers.join(',') || 'none'}`);
  if (!Number.isInteger(count) || count < 0) throw new ScheduleError(`migration count must be an integer ≥ 0, got ${count}`);
  const cycle = (list: readonly ServerName[]) => Array.from({ length: count + 1 }, (_, k) => list[k % list.length]);
  if (schedule === 'alternate') return cycle(servers.slice(0, 2));
  if (schedule === 'round-robin') return cycle(servers);
  const random = /^random:(\d+)$/.exec(schedule);
  if (random) {
    const next = prng(Number(random[1]));
    const out = [servers[0]];
    for (let k = 0; k < count; k++) {
      const others = servers.filter((s) => s !== out[out.length - 1]);
      out.push(others[Math.floor(next() * others.length)]);
    }
    return out;
  }
  if (schedule.startsWith('list:')) {
    const list = schedule.slice(5).split(',');
    const unknown = list.filter((s) => !servers.includes(s));
    if (list.length < 2 || unknown.length)
      throw new ScheduleError(
        `MIGRATION_SCHEDULE=${schedule}: expected two or more of SERVERS (${servers.join(', ')})${unknown.length ? `; not a server: ${unknown.join(', ')}` : ''}`,
      );
    const out = cycle(list);
    const stay = out.findIndex((s, k) => k > 0 && s === out[k - 1]);
    if (stay > 0)
      throw new ScheduleError(`MIGRATION_SCHEDULE=${schedule}: migration ${stay} would go from ${out[stay]} to itself`);
    return out;
  }
  throw new ScheduleError(`MIGRATION_SCHEDULE=${schedule}: expected alternate, round-robin, random:SEED or list:a,b,…`);
}

/** The (from, to) of each migration, in order. */
export function migrationHops(schedule: string, servers: readonly ServerName[], count: number): Hop[] {
  const v = visits(schedule, servers, count);
  return v.slice(1).map((to, k) => ({ from: v[k], to }));
}

/** Migration i (1-based) of this config's schedule. */
export function hopFor(c: ScheduleConfig, index: number): Hop {
  if (!Number.isInteger(index) || index < 1) throw new ScheduleError(`migration index must be an integer ≥ 1, got ${index}`);
  return migrationHops(c.MIGRATION_SCHEDULE, c.SERVERS, index)[index - 1];
}

/** Where build starts the container: the schedule's first host. */
export const homeServer = (c: ScheduleConfig): ServerName => visits(c.MIGRATION_SCHEDULE, c.SERVERS, 0)[0];

/** The server that runs the load generator and its shim (LOADGEN_HOST, default the first of SERVERS). */
export const loadgenHost = (c: Pick<Config, 'LOADGEN_HOST' | 'SERVERS'>): ServerName => c.LOADGEN_HOST || c.SERVERS[0];
