// The run folder: results/run_YYYYMMDD_HHMMSS with experiment.log, config.json, manifest.json,
// state.json. A folder is never reused by a new run (mkdir is the lock); --resume opens an old one.
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { configRecord, redactArgv, type LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../config/values.ts';

const pad = (n: number) => String(n).padStart(2, '0');

export function runDirName(d: Date): string {
  return `run_${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}_${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/**
 * RESULTS_DIR must be (or be creatable as) a writable folder on a real file system: mkdir under
 * /proc or /sys loops instead of failing, and a file in the way would surface as a stack trace.
 */
export function checkResultsDir(path: string, origin: string): void {
  const bad = (why: string) => new ConfigError(`RESULTS_DIR=${JSON.stringify(path)} (from ${origin}): ${why}`);
  let p = resolve(path);
  while (true) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      const up = dirname(p);
      if (up === p) break;
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw bad(`${p} is a file, not a folder; expected a folder for the run folders`);
    break;
  }
  const real = realpathSync(p);
  if (/^\/(proc|sys|dev)(\/|$)/.test(real))
    throw bad(`${real} is on a kernel pseudo file system; expected a folder on disk (e.g. results)`);
  try {
    accessSync(p, constants.W_OK);
  } catch {
    throw bad(`${p} is not writable by this user`);
  }
}

/** Create a new run folder; a same-second collision gets `_2`, `_3`, … Returns its absolute path. */
export function createRunDir(resultsDir: string, now = new Date()): string {
  mkdirSync(resultsDir, { recursive: true });
  const base = join(resolve(resultsDir), runDirName(now));
  for (let i = 1; i < 1000; i++) {
    const dir = i === 1 ? base : `${base}_${i}`;
    try {
      mkdirSync(dir); // not recursive: fails if it exists, so two runs never share a folder
      return dir;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error(`cannot create run folder ${dir}: ${(e as Error).message}`);
    }
  }
  throw new Error(`cannot create a run folder under ${resultsDir}: 999 folders named ${base}_N exist`);
}

/** Write JSON atomically (temp + rename), so a crash never leaves a half file. */
export function writeJson(path: string, data: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n');
  renameSync(tmp, path);
}

export function readJson<T>(path: string): T {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
}

export function writeConfigJson(dir: string, loaded: LoadedConfig): void {
  writeJson(join(dir, 'config.json'), configRecord(loaded));
}

// ---------------------------------------------------------------------------------------------
// manifest

export interface PhaseRecord {
  name: string;
  status: 'ok' | 'failed' | 'skipped' | 'interrupted';
  durationMs: number;
  startedAt: string;
  error?: string;
}
export interface Manifest {
  git: { commit: string; dirty: boolean } | { error: string };
  argv: string[];
  mode: string;
  versions: Record<string, Record<string, string>>;
  start: string;
  end?: string;
  status?: 'ok' | 'failed' | 'interrupted' | 'running';
  /** Every attempt in order; --resume appends. */
  phases: PhaseRecord[];
  resumes?: { at: string; argv: string[] }[];
  /** Settings of the testbed a run changed for itself (e.g. link emulation), by topic. */
  testbed?: Record<string, unknown>;
}

export function gitInfo(projectDir: string): Manifest['git'] {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: projectDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
        cwd: projectDir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim() !== '';
    return { commit, dirty };
  } catch (e) {
    return { error: `git unavailable: ${(e as Error).message.split('\n')[0]}` };
  }
}

export interface ManifestHandle {
  data: Manifest;
  save(): void;
  setVersions(host: string, v: Record<string, string>): void;
  /** Record a testbed setting of this run (link emulation, …) under `topic`. */
  setTestbed(topic: string, value: unknown): void;
  phase(rec: PhaseRecord): void;
  finish(status: NonNullable<Manifest['status']>): void;
}

/** Phases whose latest attempt in the manifest was ok. */
export function phasesDone(m: Pick<Manifest, 'phases'>): string[] {
  const last = new Map<string, string>();
  for (const p of m.phases ?? []) last.set(p.name, p.status);
  return [...last].filter(([, s]) => s === 'ok').map(([n]) => n);
}

/** Open manifest.json of `dir` (creating it for a new run, or appending a resume entry). */
export function openManifest(
  dir: string,
  o: { argv: string[]; projectDir: string; mode: string; resume?: boolean },
): ManifestHandle {
  const path = join(dir, 'manifest.json');
  let data: Manifest;
  if (o.resume && existsSync(path)) {
    data = readJson<Manifest>(path);
    (data.resumes ??= []).push({ at: new Date().toISOString(), argv: redactArgv(o.argv) });
    data.status = 'running';
    delete data.end;
  } else {
    data = {
      git: gitInfo(o.projectDir),
      argv: redactArgv(o.argv),
      mode: o.mode,
      versions: {},
      start: new Date().toISOString(),
      status: 'running',
      phases: [],
    };
  }
  const h: ManifestHandle = {
    data,
    save: () => writeJson(path, data),
    setVersions(host, v) {
      data.versions[host] = { ...data.versions[host], ...v };
      h.save();
    },
    setTestbed(topic, value) {
      data.testbed = { ...data.testbed, [topic]: value };
      h.save();
    },
    phase(rec) {
      data.phases.push(rec);
      h.save();
    },
    finish(status) {
      data.status = status;
      data.end = new Date().toISOString();
      h.save();
    },
  };
  h.save();
  return h;
}

// ---------------------------------------------------------------------------------------------
// state

export interface RunState {
  get<T = unknown>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  all(): Record<string, unknown>;
}

/** A phase got or set a state key it does not declare (get: reads or writes; set: writes). */
export class StateKeyError extends Error {
  constructor(
    public phase: string,
    public key: string,
    public op: 'get' | 'set',
  ) {
    super(
      `phase ${phase} ${op === 'get' ? 'reads' : 'writes'} state key ${key} but does not declare it in ${op === 'get' ? 'reads (or writes)' : 'writes'}`,
    );
    this.name = 'StateKeyError';
  }
}

/**
 * The state as one phase may use it: only the keys in its `reads`/`writes`, so the declarations
 * (shown by --list, relied on by --phase/--resume) stay true. Strict: an undeclared key throws
 * StateKeyError. Otherwise it is one warning per key and the run goes on: the declaration is what
 * is wrong, not the run, and a long experiment should not die in a rarely taken branch for it.
 */
export function phaseState(
  state: RunState,
  p: { name: string; reads: readonly string[]; writes: readonly string[] },
  o: { strict: boolean; warn: (msg: string) => void },
): RunState {
  const warned = new Set<string>();
  const check = (key: string, op: 'get' | 'set') => {
    if (p.writes.includes(key) || (op === 'get' && p.reads.includes(key))) return;
    const e = new StateKeyError(p.name, key, op);
    if (o.strict) throw e;
    if (!warned.has(`${op} ${key}`)) o.warn(`${e.message} (P4CF_STRICT_STATE=1 makes this an error)`);
    warned.add(`${op} ${key}`);
  };
  return {
    get: <T>(key: string) => {
      check(key, 'get');
      return state.get<T>(key);
    },
    set(key, value) {
      check(key, 'set');
      state.set(key, value);
    },
    all: () => state.all(),
  };
}

/** Phase-to-phase state, persisted on every set (path undefined = memory only, e.g. dry-run). */
export function openState(path?: string): RunState {
  let data: Record<string, unknown> = path && existsSync(path) ? readJson(path) : {};
  return {
    get: <T>(key: string) => data[key] as T | undefined,
    set(key, value) {
      if (value === undefined) {
        const { [key]: _, ...rest } = data;
        data = rest;
      } else data = { ...data, [key]: value };
      if (path) writeJson(path, data);
    },
    all: () => ({ ...data }),
  };
}
