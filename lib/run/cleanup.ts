// The run's EXIT trap: every resource registers its undo when it is created; undos run LIFO on a
// normal end, a thrown error, or SIGINT/SIGTERM/SIGHUP. Each undo is bounded in time and logged, and a
// failing undo never replaces the error that ended the run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './log.ts';

export interface Cleanup {
  /** Register an undo; returns remove() for when the resource was released normally. */
  add(label: string, fn: () => Promise<void> | void, opts?: { timeoutMs?: number }): () => void;
  /** Labels of the undos not yet run, most recent first. */
  pending(): string[];
  /** Run every pending undo, LIFO. Never throws; returns what failed. */
  runAll(reason?: string): Promise<{ ran: string[]; failed: { label: string; error: string }[] }>;
}

interface Entry {
  id: number;
  label: string;
  fn: () => Promise<void> | void;
  timeoutMs: number;
}

export const DEFAULT_UNDO_TIMEOUT_MS = 15_000;

export function createCleanup(opts: { log?: Logger; timeoutMs?: number } = {}): Cleanup {
  const stack: Entry[] = [];
  let nextId = 1;
  let current: Entry | undefined;
  let running: Promise<{ ran: string[]; failed: { label: string; error: string }[] }> | undefined;
  const log = opts.log;

  const runOne = async (e: Entry) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`undo timed out after ${e.timeoutMs} ms`)), e.timeoutMs);
    });
    try {
      await Promise.race([Promise.resolve().then(e.fn), timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    add(label, fn, o = {}) {
      const entry = { id: nextId++, label, fn, timeoutMs: o.timeoutMs ?? opts.timeoutMs ?? DEFAULT_UNDO_TIMEOUT_MS };
      stack.push(entry);
      return () => {
        const i = stack.findIndex((x) => x.id === entry.id);
        if (i >= 0) stack.splice(i, 1);
      };
    },
    // The undo in progress counts: an exit now may leave its resource behind.
    pending: () => [...(current ? [`${current.label} (was running)`] : []), ...stack.map((e) => e.label).reverse()],
    runAll(reason) {
      // A second caller (e.g. a signal during a normal end) waits for the same pass.
      running ??= (async () => {
        const ran: string[] = [];
        const failed: { label: string; error: string }[] = [];
        if (stack.length) log?.info(`cleanup${reason ? ` (${reason})` : ''}: ${stack.length} undo action(s)`);
        while (stack.length) {
          const e = stack.pop()!;
          const t0 = Date.now();
          current = e;
          try {
            await runOne(e);
            ran.push(e.label);
            log?.info(`cleanup: ${e.label} — done in ${Date.now() - t0} ms`);
          } catch (err) {
            const msg = (err as Error)?.message ?? String(err);
            failed.push({ label: e.label, error: msg });
            log?.warn(`cleanup: ${e.label} — FAILED: ${msg}`);
          } finally {
            current = undefined;
          }
        }
        return { ran, failed };
      })().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}

/** Thrown into the running phase when a signal arrives. */
export class InterruptedError extends Error {
  /** How the running phase ended after the abort (the runner fills it in). */
  stopped?: string;
  constructor(public signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }
}

/**
 * First SIGINT/SIGTERM/SIGHUP calls onInterrupt (the runner aborts the phase, then runs cleanup).
 * A second one exits at once, listing what may be left behind. Returns uninstall().
 */
export function installSignalHandlers(o: {
  cleanup: Cleanup;
  log: Logger;
  onInterrupt: (sig: NodeJS.Signals) => void;
}): () => void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      o.log.warn(`${sig} received: stopping the current phase and cleaning up (send it again to exit at once)`);
      o.onInterrupt(sig);
      return;
    }
    const left = o.cleanup.pending();
    const msg = left.length
      ? `second ${sig}: exiting now; these may be left behind:\n  - ${left.join('\n  - ')}`
      : `second ${sig}: exiting now`;
    o.log.error(msg);
    process.exit(130);
  };
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, handler);
  return () => {
    for (const s of sigs) process.off(s, handler);
  };
}

export interface ErrorReport {
  error: unknown;
  phase?: string;
  host?: string;
  logTail: string[];
}

/** error.log: message, stack, phase and host of the failure, then the last lines of experiment.log. */
export function writeErrorLog(dir: string, r: ErrorReport): string {
  const e = r.error as { message?: string; stack?: string; host?: string; command?: string; code?: number; stderrTail?: string };
  const host = r.host ?? e?.host;
  const lines = [
    `time: ${new Date().toISOString()}`,
    `phase: ${r.phase ?? '(none)'}`,
    `host: ${host ?? '(this machine)'}`,
    `error: ${e?.message ?? String(r.error)}`,
  ];
  if (e?.command) lines.push(`command: ${e.command}`);
  if (e?.code !== undefined) lines.push(`exit code: ${e.code}`);
  if (e?.stderrTail) lines.push('stderr tail:', e.stderrTail);
  lines.push('', 'stack:', e?.stack ?? '(none)', '', `last ${r.logTail.length} lines of experiment.log:`, ...r.logTail);
  const path = join(dir, 'error.log');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
