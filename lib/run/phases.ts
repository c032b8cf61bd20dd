// Phase records and phase selection (--phase/--from/--to/--skip/--resume). Selection works on
// names only, so it does not depend on which phase files exist.
import type { RunContext } from './context.ts';

export type { RunContext } from './context.ts';

export interface Phase {
  name: string;
  description: string;
  /** Hosts the phase works on, for the banner. */
  hosts: (ctx: RunContext) => string[];
  /** state.json keys read and written. */
  reads: string[];
  writes: string[];
  /** False → the phase is skipped (e.g. testbed only when TESTBED=local). */
  when?: (ctx: RunContext) => boolean;
  run(ctx: RunContext): Promise<void>;
}

/** The full order of a run. */
export const PHASE_ORDER = [
  'testbed',
  'preflight',
  'sync',
  'images',
  'switchd',
  'controller',
  'clean',
  'build',
  'workload',
  'steady',
  'migrate',
  'post',
  'collect',
  'analyze',
] as const;

export interface Selection {
  phase?: string[];
  from?: string;
  to?: string;
  skip?: string[];
  /** Phases already finished ok in the run being resumed (manifest order). */
  resumeDone?: string[];
  resume?: boolean;
}

export class SelectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SelectionError';
  }
}

function check(all: string[], names: string[], flag: string): void {
  const bad = names.filter((n) => !all.includes(n));
  if (bad.length)
    throw new SelectionError(
      `${flag}: unknown phase${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; valid phases in order: ${all.join(' ')}`,
    );
}

/** Split a comma list, trimming blanks: "a, b," → [a, b]. */
export function splitList(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Which phases run, in registry order.
 * --phase picks exact phases; --from/--to bound a range; --skip removes; --resume without a
 * selection continues after the last phase that finished ok.
 */
export function selectPhases(all: string[], sel: Selection): string[] {
  if (new Set(all).size !== all.length) throw new SelectionError(`phase list has duplicate names: ${all.join(' ')}`);
  const skip = sel.skip ?? [];
  if (sel.phase) check(all, sel.phase, '--phase');
  if (sel.from) check(all, [sel.from], '--from');
  if (sel.to) check(all, [sel.to], '--to');
  check(all, skip, '--skip');
  if (sel.phase && (sel.from || sel.to))
    throw new SelectionError('--phase cannot be combined with --from/--to: use either an exact list or a range');
  if (sel.phase && !sel.phase.length) throw new SelectionError('--phase needs at least one phase name');

  let chosen: string[];
  if (sel.phase) {
    const wanted = new Set(sel.phase);
    chosen = all.filter((n) => wanted.has(n));
  } else {
    let from = sel.from ? all.indexOf(sel.from) : 0;
    const to = sel.to ? all.indexOf(sel.to) : all.length - 1;
    if (sel.from && sel.to && from > to)
      throw new SelectionError(`--from ${sel.from} comes after --to ${sel.to} (order: ${all.join(' ')})`);
    if (sel.resume && !sel.from && sel.resumeDone) {
      // Continue with the first phase that did not finish ok.
      const next = all.findIndex((n) => !sel.resumeDone!.includes(n));
      if (next < 0)
        throw new SelectionError('--resume: every phase of that run already finished ok; pick phases with --phase or --from');
      from = next;
      if (from > to) throw new SelectionError(`--resume: the run continues at ${all[from]}, which is after --to ${sel.to}`);
    }
    chosen = all.slice(from, to + 1);
  }
  const overlap = skip.filter((s) => sel.phase?.includes(s));
  if (overlap.length) throw new SelectionError(`${overlap.join(', ')} both selected with --phase and skipped with --skip`);
  chosen = chosen.filter((n) => !skip.includes(n));
  if (!chosen.length) throw new SelectionError('no phase left to run after --skip');
  return chosen;
}
