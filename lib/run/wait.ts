// Measuring waits: the run stands still for a configured time (steady state, post-migration)
// with a countdown on the terminal; a dry run only says what it would wait. The run's signal
// ends a wait at once (Ctrl-C during a long steady state must not wait for it to run out).
import type { RunContext } from './context.ts';

/** The reason the signal was fired with (the runner's InterruptedError), or a plain error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(`aborted: ${String(signal.reason ?? 'the run was aborted')}`);
}

/** Sleep `ms`, or reject with the signal's reason as soon as it fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function countdown(
  ctx: Pick<RunContext, 'dryRun' | 'log'> & { signal?: AbortSignal },
  label: string,
  ms: number,
  progress?: () => string | undefined,
  opts: { everyMs?: number; check?: () => Promise<void> } = {},
): Promise<void> {
  if (ctx.dryRun) {
    ctx.log.info(`dry run: would wait ${label}: ${ms} ms`);
    return;
  }
  if (ctx.signal?.aborted) throw abortReason(ctx.signal);
  if (ms <= 0) {
    ctx.log.info(`${label}: ${ms} ms`);
    return;
  }
  const cd = ctx.log.countdown(label, ms);
  const end = Date.now() + ms;
  const every = opts.everyMs ?? 1000;
  try {
    while (Date.now() < end) {
      await sleep(Math.min(every, Math.max(0, end - Date.now())), ctx.signal);
      // e.g. a health probe of the testbed's components: a dead one ends the wait with its error
      await opts.check?.();
      const note = progress?.();
      if (note) cd.update(note);
    }
  } finally {
    cd.stop();
  }
}
