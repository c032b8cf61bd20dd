// Health gates: wait (with p-retry and a countdown) until a process runs, a TCP port answers,
// an HTTP URL returns 200 or a log line appears. A timeout says what was awaited, where, and the
// last state seen, instead of a fixed sleep that silently hopes.
import pRetry from 'p-retry';
import type { Logger } from './log.ts';
import { sh } from '../hosts/quote.ts';
import type { Host } from '../hosts/types.ts';

export interface GateOpts {
  timeoutMs?: number;
  intervalMs?: number;
  log?: Logger;
  /** In dry-run the wait is announced, the probe runs once (so its command enters the plan) and is assumed to pass. */
  dryRun?: boolean;
}

export class HealthTimeoutError extends Error {
  constructor(public what: string, public host: string, public lastState: string, public timeoutMs: number) {
    super(`[${host}] timed out after ${timeoutMs} ms waiting for ${what}; last state: ${lastState || '(nothing observed)'}`);
    this.name = 'HealthTimeoutError';
  }
}

/** Poll `probe` until it returns {ok:true}; each failed probe's `state` is kept for the error. */
export async function waitUntil(
  host: Host, what: string, probe: () => Promise<{ ok: boolean; state: string }>, o: GateOpts = {},
): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const intervalMs = o.intervalMs ?? 500;
  if (o.dryRun) {
    o.log?.info(`[${host.name}] dry run: would wait up to ${Math.round(timeoutMs / 1000)} s (every ${intervalMs} ms) for ${what}, polling with:`);
    await probe().catch(() => {});
    return;
  }
  o.log?.info(`[${host.name}] waiting for ${what} (up to ${Math.round(timeoutMs / 1000)} s)`);
  const cd = o.log?.countdown(`[${host.name}] ${what}`, timeoutMs);
  let last = '';
  const started = Date.now();
  try {
    await pRetry(async () => {
      let r: { ok: boolean; state: string };
      try { r = await probe(); } catch (e) { r = { ok: false, state: (e as Error).message.split('\n')[0] }; }
      last = r.state;
      cd?.update(r.state);
      if (!r.ok) throw new Error(r.state);
    }, {
      retries: Math.max(1, Math.ceil(timeoutMs / intervalMs) + 1),
      factor: 1, minTimeout: intervalMs, maxTimeout: intervalMs, randomize: false,
      maxRetryTime: timeoutMs,
    });
  } catch {
    throw new HealthTimeoutError(what, host.name, last, timeoutMs);
  } finally {
    cd?.stop();
  }
  o.log?.info(`[${host.name}] ${what}: ok after ${Date.now() - started} ms`);
}

/** A process with this PID runs on the host. */
export function waitForProcess(host: Host, pid: number, o: GateOpts & { name?: string } = {}): Promise<void> {
  return waitUntil(host, `process ${o.name ?? ''} pid ${pid} running`.replace('  ', ' '), async () => {
    const r = await host.exec(sh`if [ -d /proc/${pid} ]; then echo running; cat /proc/${pid}/status | grep '^State'; else echo "no process ${pid}"; fi`, { quiet: true, allowFail: true });
    const out = r.stdout.trim();
    return { ok: out.startsWith('running') && !/State:\s+Z/.test(out), state: out.replace(/\n/g, ', ') || 'no answer' };
  }, o);
}

const NODE_TCP = `const [h,p]=process.argv.slice(1);const s=require('net').connect(+p,h);s.setTimeout(2000);s.on('connect',()=>{console.log('open');process.exit(0)});s.on('timeout',()=>{console.log('connect timeout');process.exit(1)});s.on('error',e=>{console.log(e.code||e.message);process.exit(1)})`;

/** One try: does a TCP connection to address:port succeed from the host? */
export async function probePort(host: Host, port: number, address = '127.0.0.1'): Promise<{ ok: boolean; state: string }> {
  const r = await host.exec(sh`node -e ${NODE_TCP} ${address} ${port}`, { quiet: true, allowFail: true, timeoutMs: 5000 });
  return { ok: r.code === 0, state: r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
}

/** A TCP connection to address:port succeeds from the host. */
export function waitForPort(host: Host, port: number, o: GateOpts & { address?: string } = {}): Promise<void> {
  const address = o.address ?? '127.0.0.1';
  return waitUntil(host, `TCP ${address}:${port} open`, () => probePort(host, port, address), o);
}

const NODE_HTTP = `const u=process.argv[1];const c=new AbortController();setTimeout(()=>c.abort(),3000);fetch(u,{signal:c.signal}).then(r=>{console.log('HTTP '+r.status);process.exit(r.status===200?0:1)},e=>{console.log(String(e.cause?.code||e.message));process.exit(1)})`;

/** GET url from the host returns 200. */
export function waitForHttp(host: Host, url: string, o: GateOpts = {}): Promise<void> {
  return waitUntil(host, `HTTP 200 from ${url}`, async () => {
    const r = await host.exec(sh`node -e ${NODE_HTTP} ${url}`, { quiet: true, allowFail: true, timeoutMs: 6000 });
    return { ok: r.code === 0, state: r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
  }, o);
}

/** A line matching the extended regex `pattern` appears in `file` on the host. */
export function waitForLogLine(host: Host, file: string, pattern: string, o: GateOpts = {}): Promise<void> {
  return waitUntil(host, `/${pattern}/ in ${file}`, async () => {
    const r = await host.exec(sh`if [ ! -e ${file} ]; then echo "no file ${file}"; exit 2; fi; grep -E -m1 -e ${pattern} ${file} && exit 0; echo "last line: $(tail -n 1 ${file})"; exit 1`, { quiet: true, allowFail: true });
    return { ok: r.code === 0, state: r.stdout.trim().split('\n').pop() ?? '' };
  }, o);
}
