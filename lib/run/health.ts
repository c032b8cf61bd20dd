// Health gates: wait (lib/run/poll.ts, with a countdown) until a TCP port answers or an HTTP URL
// returns 200 (probed on the host by p4cf-net, lib/nettool), or any other probe passes. A timeout
// says what was awaited, where, and the last state seen, instead of a fixed sleep that silently hopes.
import { CommandAbortedError } from '../hosts/errors.ts';
import type { Logger } from './log.ts';
import { pollUntil } from './poll.ts';
import type { Host } from '../hosts/types.ts';
import { ensureLocalNetTool, NETTOOL, netTool } from '../nettool/index.ts';

export interface GateOpts {
  timeoutMs?: number;
  intervalMs?: number;
  log?: Logger;
  /** In dry-run the wait is announced, the probe runs once (so its command enters the plan) and is assumed to pass. */
  dryRun?: boolean;
}

export class HealthTimeoutError extends Error {
  constructor(
    public what: string,
    public host: string,
    public lastState: string,
    public timeoutMs: number,
  ) {
    super(`[${host}] timed out after ${timeoutMs} ms waiting for ${what}; last state: ${lastState || '(nothing observed)'}`);
    this.name = 'HealthTimeoutError';
  }
}

/** Ends a wait early: `check` runs after every failed probe and throws when waiting is pointless. */
export interface GiveUp {
  /** For the dry-run line: "stopping early if <when>". */
  when: string;
  check: () => Promise<void>;
}

/**
 * Poll `probe` until it returns {ok:true}; each failed probe's `state` is kept for the error. A
 * `giveUp` check that throws ends the wait with its error (e.g. the awaited daemon exited).
 */
export async function waitUntil(
  host: Host,
  what: string,
  probe: () => Promise<{ ok: boolean; state: string }>,
  o: GateOpts & { giveUp?: GiveUp } = {},
): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const intervalMs = o.intervalMs ?? 500;
  if (o.dryRun) {
    const early = o.giveUp ? `, stopping early if ${o.giveUp.when};` : ',';
    o.log?.info(
      `[${host.name}] dry run: would wait up to ${Math.round(timeoutMs / 1000)} s (every ${intervalMs} ms) for ${what}${early} polling with:`,
    );
    await probe().catch(() => {});
    return;
  }
  o.log?.info(`[${host.name}] waiting for ${what} (up to ${Math.round(timeoutMs / 1000)} s)`);
  const cd = o.log?.countdown(`[${host.name}] ${what}`, timeoutMs);
  let last = '';
  const started = Date.now();
  try {
    // pollUntil treats a throwing probe as "not yet": a give-up comes back as a value instead
    const r = await pollUntil(
      async () => {
        let p: { ok: boolean; state: string };
        try {
          p = await probe();
        } catch (e) {
          if (e instanceof CommandAbortedError) return { stop: e }; // the run was aborted: stop waiting
          p = { ok: false, state: (e as Error).message.split('\n')[0] };
        }
        if (p.ok) return { stop: undefined };
        last = p.state;
        cd?.update(last);
        const stop = await o.giveUp?.check().then(
          () => undefined,
          (e: unknown) => e ?? new Error('gave up'),
        );
        return stop ? { stop } : undefined;
      },
      timeoutMs,
      intervalMs,
    );
    if (!r.value) throw new HealthTimeoutError(what, host.name, last, timeoutMs);
    if (r.value.stop) throw r.value.stop;
  } finally {
    cd?.stop();
  }
  o.log?.info(`[${host.name}] ${what}: ok after ${Date.now() - started} ms`);
}

/** Where the gate finds p4cf-net (lib/nettool) on the host; optional on `local` (this checkout's bundle). */
export interface ToolOpts {
  tool?: string;
}

async function toolFor(host: Host, o: ToolOpts, what: string): Promise<string> {
  if (o.tool) return o.tool;
  if (host.name === 'local') return ensureLocalNetTool();
  throw new Error(
    `[${host.name}] waiting for ${what}: no path to ${NETTOOL} on that host (pass tool: netToolPath(config, '${host.name}'))`,
  );
}

/** One TCP connect from the host (for readiness gates built elsewhere, e.g. a daemon's start). */
export async function probePort(
  host: Host,
  port: number,
  address: string,
  o: ToolOpts = {},
): Promise<{ ok: boolean; state: string }> {
  const tool = await toolFor(host, o, `TCP ${address}:${port} open`);
  const r = await host.exec(netTool(tool, 'tcp-probe', address, port), { quiet: true, allowFail: true, timeoutMs: 5000 });
  return { ok: r.code === 0, state: r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
}

/** A TCP connection to address:port succeeds from the host. */
export async function waitForPort(host: Host, port: number, o: GateOpts & ToolOpts & { address?: string } = {}): Promise<void> {
  const address = o.address ?? '127.0.0.1';
  const tool = await toolFor(host, o, `TCP ${address}:${port} open`);
  return waitUntil(host, `TCP ${address}:${port} open`, () => probePort(host, port, address, { tool }), o);
}

/** GET url from the host returns 200. */
export async function waitForHttp(host: Host, url: string, o: GateOpts & ToolOpts = {}): Promise<void> {
  const what = `HTTP 200 from ${url}`;
  const tool = await toolFor(host, o, what);
  return waitUntil(
    host,
    what,
    async () => {
      const r = await host.exec(netTool(tool, 'http-probe', url), { quiet: true, allowFail: true, timeoutMs: 6000 });
      return { ok: r.code === 0, state: r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
    },
    o,
  );
}
