// Measuring waits: the run stands still for a configured time (steady state, post-migration)
// with a countdown on the terminal; a dry run only says what it would wait.
import type { RunContext } from './context.ts';

export async function countdown(ctx: Pick<RunContext, 'dryRun' | 'log'>, label: string, ms: number, progress?: () => string | undefined): Promise<void> {
  if (ctx.dryRun) { ctx.log.info(`dry run: would wait ${label}: ${ms} ms`); return; }
  if (ms <= 0) { ctx.log.info(`${label}: ${ms} ms`); return; }
  const cd = ctx.log.countdown(label, ms);
  const end = Date.now() + ms;
  try {
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, end - Date.now()))));
      const note = progress?.();
      if (note) cd.update(note);
    }
  } finally { cd.stop(); }
}
