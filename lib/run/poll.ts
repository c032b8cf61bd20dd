// Bounded polling: call a probe every few milliseconds until it yields a value or the time is up.
// Every wait in the project is bounded, so a hung daemon or a lost packet ends as a clear error.

/** A wait that ran out of time; `lastError` is the probe's last exception, if it threw. */
export class PollTimeoutError extends Error {
  constructor(
    public what: string,
    public timeoutMs: number,
    public lastError?: unknown,
  ) {
    super(
      `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error)?.message ?? lastError}` : ''}`,
    );
    this.name = 'PollTimeoutError';
  }
}

import { CommandAbortedError } from '../hosts/errors.ts';

type Probe<T> = () => Promise<T | undefined | false> | T | undefined | false;

/**
 * Calls `fn` every `everyMs` until it returns a value other than undefined/false and returns that
 * value, or undefined once `timeoutMs` has passed (a probe that throws counts as not yet). The
 * probe runs at least once.
 */
export async function pollUntil<T>(fn: Probe<T>, timeoutMs: number, everyMs = 100): Promise<{ value?: T; lastError?: unknown }> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return { value: v as T };
    } catch (e) {
      // the run was aborted: its commands refuse to start, so waiting on is pointless
      if (e instanceof CommandAbortedError) throw e;
      lastError = e;
    }
    const left = deadline - Date.now();
    if (left <= 0) return { lastError };
    await new Promise((r) => setTimeout(r, Math.min(everyMs, left)));
  }
}

/** As pollUntil, but a timeout is a PollTimeoutError naming `what`. */
export async function waitFor<T>(what: string, fn: Probe<T>, timeoutMs: number, everyMs = 100): Promise<T> {
  const r = await pollUntil(fn, timeoutMs, everyMs);
  if (r.value === undefined) throw new PollTimeoutError(what, timeoutMs, r.lastError);
  return r.value;
}
