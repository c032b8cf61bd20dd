// A parameter sweep's plan, decided before anything runs: the loop variables (`--vary KEY=v1,v2`),
// their cross product (or `--zip`: paired lists), R repetitions of each point, and every point's
// full configuration validated by the same loader as a run — so a value that fails its key's type,
// or a combination that fails a cross-key check, stops the sweep at exit 2 before the first run.
import { loadConfig } from '../config/load.ts';
import type { Config, KeyName } from '../config/keys.ts';
import { ConfigError, KEY_NAMES, parseDeclared, parseKey, suggestKey } from '../config/values.ts';
import { parseServerKey, SERVER_FIELDS, SERVER_KEY_TEMPLATE } from '../config/keys/servers.ts';

export interface Vary {
  /** A declared key or a server's key (BOULDER_SW_PORT). */
  key: string;
  values: string[];
}

/** One run of the sweep: the point's parameters and which repetition. */
export interface PlannedRun {
  /** 1-based, in execution order. */
  index: number;
  /** 1-based point number (runs of one point share it). */
  point: number;
  rep: number;
  params: Record<string, string>;
}

export interface SweepPlan {
  varies: Vary[];
  zip: boolean;
  repeat: number;
  runs: PlannedRun[];
}

/**
 * `KEY=v1,v2,…` → a loop variable; the key must be declared (or be a server's key, e.g.
 * BOULDER_SW_PORT: run.ts checks that the server is in SERVERS) and every value must parse.
 * Values that hold commas themselves (SERVERS, MIGRATION_SCHEDULE=list:…) are separated by `;`.
 */
export function parseVary(arg: string, origin = '--vary'): Vary {
  const eq = arg.indexOf('=');
  if (eq <= 0) throw new ConfigError(`${origin} ${JSON.stringify(arg)}: expected KEY=VALUE1,VALUE2,…`);
  const name = arg.slice(0, eq);
  const server = (KEY_NAMES as string[]).includes(name) ? undefined : parseServerKey(name);
  if (!(KEY_NAMES as string[]).includes(name) && !server) {
    const s = suggestKey(name);
    throw new ConfigError(
      `${origin} ${name}: unknown config key${s ? `; did you mean ${s}?` : ''} (declared keys are in lib/config/keys/, a server's keys are <NAME>_${SERVER_FIELDS.join('|')})`,
    );
  }
  const rest = arg.slice(eq + 1);
  const values = rest.split(rest.includes(';') ? ';' : ',').map((v) => v.trim());
  if (values.some((v) => v === ''))
    throw new ConfigError(`${origin} ${arg}: empty value in the list (expected KEY=VALUE1,VALUE2,… or KEY=A,B;C,D)`);
  if (new Set(values).size !== values.length) throw new ConfigError(`${origin} ${arg}: a value is listed twice`);
  for (const v of values) {
    if (server) parseDeclared(name, SERVER_KEY_TEMPLATE[server.field], v, `${origin} ${name}`);
    else parseKey(name as KeyName, v, `${origin} ${name}`);
  }
  return { key: name, values };
}

/** The runs of the sweep in order: points in nested-loop order (first --vary outermost), each R times. */
export function expandPlan(varies: Vary[], o: { zip?: boolean; repeat?: number } = {}): SweepPlan {
  const repeat = o.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1000)
    throw new ConfigError(`--repeat ${repeat}: expected an integer 1..1000`);
  if (!varies.length) throw new ConfigError('sweep: give at least one --vary KEY=VALUE1,VALUE2');
  const keys = varies.map((v) => v.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new ConfigError(`--vary ${dup} given twice; give one list per key`);
  let points: Record<string, string>[];
  if (o.zip) {
    const n = varies[0].values.length;
    const off = varies.find((v) => v.values.length !== n);
    if (off)
      throw new ConfigError(
        `--zip pairs the lists value by value, but ${varies[0].key} has ${n} values and ${off.key} ${off.values.length}`,
      );
    points = Array.from({ length: n }, (_, i) => Object.fromEntries(varies.map((v) => [v.key, v.values[i]])));
  } else {
    points = varies.reduce<Record<string, string>[]>(
      (acc, v) => acc.flatMap((p) => v.values.map((x) => ({ ...p, [v.key]: x }))),
      [{}],
    );
  }
  const runs: PlannedRun[] = [];
  points.forEach((params, pi) => {
    for (let rep = 1; rep <= repeat; rep++) runs.push({ index: runs.length + 1, point: pi + 1, rep, params });
  });
  return { varies, zip: Boolean(o.zip), repeat, runs };
}

/** The `--set` arguments that give a run its point. */
export const pointArgs = (params: Record<string, string>): string[] =>
  Object.entries(params).flatMap(([k, v]) => ['--set', `${k}=${v}`]);

/**
 * Load the full configuration of every point (run options first, then the point's values, as
 * run.ts will); collects every point's error so one exit names them all.
 */
export function validatePoints(
  plan: SweepPlan,
  configArgs: string[],
  o: { cwd: string; env?: Record<string, string | undefined> },
): Config[] {
  const seen = new Map<number, Config>();
  const errors: string[] = [];
  for (const r of plan.runs) {
    if (seen.has(r.point)) continue;
    try {
      seen.set(r.point, loadConfig({ argv: [...configArgs, ...pointArgs(r.params)], cwd: o.cwd, env: o.env }).config);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      errors.push(`point ${r.point} (${describePoint(r.params)}): ${e.message}`);
    }
  }
  if (errors.length) throw new ConfigError(errors.join('\n'));
  return [...seen.values()];
}

export const describePoint = (params: Record<string, string>): string =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** Fixed cost of a local run outside its waits (testbed check, sync, build, workload start, collect, analyze). */
export const RUN_OVERHEAD_MS = 30_000;
/** A migration's own duration on the local testbed (~0.7 s), rounded up. */
const MIGRATION_MS = 1_000;

/** How long one run of this configuration is expected to take (before any run has been timed). */
export function estimateRunMs(
  c: Pick<Config, 'STEADY_STATE' | 'POST_MIGRATION' | 'MIGRATIONS' | 'LOADGEN_CONNECTIONS' | 'LOADGEN_RAMP'>,
): number {
  return (
    RUN_OVERHEAD_MS + c.STEADY_STATE + c.MIGRATIONS * (MIGRATION_MS + c.POST_MIGRATION) + c.LOADGEN_CONNECTIONS * c.LOADGEN_RAMP
  );
}
