// One long-lived `nft -i` child that applies one-line batches. A fresh `nft` per batch costs
// more than the commit itself: after a commit that deletes anything (an element, a table) the
// kernel makes the closing netlink socket wait for an RCU grace period (~10-15 ms here), and a
// process that never closes its socket never waits.
// Protocol: every batch is followed by `list table netdev <marker>` for a table that does not
// exist; nft reports that on stderr after any error of the batch, so the stderr text before the
// marker's report is exactly the batch's errors. One input line is one nft transaction.
import { type ChildProcess, spawn } from 'node:child_process';

export interface NftSession {
  /** Applies `line` as one transaction; throws with nft's error text if it was refused. */
  run(line: string): Promise<void>;
  /** Ends the child (it also exits by itself when this process dies: its stdin closes). */
  close(): Promise<void>;
  /** PID of the running child, if any (for tests and logs) */
  pid(): number | undefined;
}

export interface NftSessionOpts {
  timeoutMs?: number;
  /** nft -i keeps every line in its in-memory history: start a fresh child after this many batches. */
  maxBatches?: number;
  log?: (line: string) => void;
  /** argv that runs nft, e.g. with an nsenter prefix; default ['nft'] (this namespace) */
  command?: string[];
}

/** An error of the session itself (child died, timed out): the batch may or may not have been applied. */
export type SessionError = Error & { unclean: true };
const unclean = (message: string): SessionError => Object.assign(new Error(message), { unclean: true as const });
export const isUnclean = (e: unknown): boolean => (e as { unclean?: boolean })?.unclean === true;

// Caret lines under the echoed command are noise once the message and command are kept.
const meaningful = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '' && !/^\s*[\^~]+\s*$/.test(l));

export function createNftSession(o: NftSessionOpts = {}): NftSession {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const maxBatches = o.maxBatches ?? 5000;
  const log = o.log ?? (() => {});
  // Per child, so a retired child exiting later cannot disturb its successor.
  interface Child {
    p: ChildProcess;
    stderr: string;
    exited?: string;
    wake?: () => void;
    batches: number;
  }
  let cur: Child | undefined;
  let seq = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const tag = `p4cf_nft_batch_end_${process.pid}_`;

  function start(): Child {
    // HOME=/dev/null: nft -i reads and writes $HOME/.nft.history; this makes both fail quietly.
    const [cmd, ...args] = o.command ?? ['nft'];
    const p = spawn(cmd, [...args, '-i'], { stdio: ['pipe', 'ignore', 'pipe'], env: { ...process.env, HOME: '/dev/null' } });
    const c: Child = { p, stderr: '', batches: 0 };
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (d: string) => {
      c.stderr += d;
      c.wake?.();
    });
    p.stdin!.on('error', () => {}); // EPIPE when the child died; reported through 'exit'
    p.on('error', (e) => {
      c.exited = `cannot run nft -i: ${e.message}`;
      c.wake?.();
    });
    p.on('exit', (code, sig) => {
      c.exited = `nft -i exited (${sig ?? `code ${code}`})${c.stderr.trim() ? `: ${meaningful(c.stderr).slice(-4).join(' | ')}` : ''}`;
      if (cur === c) cur = undefined;
      c.wake?.();
    });
    return c;
  }

  async function once(line: string): Promise<void> {
    if (line.includes('\n')) throw new Error('nft session: a batch must be one line (one line is one transaction)');
    if (!cur || cur.exited) cur = start();
    const c = cur;
    const report = `list table netdev ${tag}${++seq}`;
    c.p.stdin!.write(`${line}\n${report}\n`);
    const deadline = Date.now() + timeoutMs;
    while (!c.stderr.includes(report)) {
      if (c.exited) throw unclean(c.exited);
      const left = deadline - Date.now();
      if (left <= 0) {
        c.p.kill('SIGKILL');
        if (cur === c) cur = undefined;
        throw unclean(`nft -i gave no answer within ${timeoutMs} ms (killed; the batch may or may not be applied)`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        c.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      c.wake = undefined;
    }
    const at = c.stderr.indexOf(report);
    // The marker's own report is "Error: …\nlist table netdev MARKER\n   ^^^": drop its first line too.
    const before = c.stderr.slice(0, at).split('\n').slice(0, -2).join('\n');
    c.stderr = c.stderr.slice(at + report.length);
    const errors = meaningful(before);
    if (++c.batches >= maxBatches) {
      log(`[nft] restarting nft -i after ${c.batches} batches (bounds its history)`);
      c.p.stdin!.end();
      cur = undefined;
    }
    if (errors.length) throw new Error(`nft refused the batch: ${errors.slice(-6).join(' | ')}`);
  }

  return {
    run(line) {
      const r = chain.then(() => once(line));
      chain = r.catch(() => {});
      return r;
    },
    pid: () => (cur && !cur.exited ? cur.p.pid : undefined),
    async close() {
      await chain;
      const p = cur?.p;
      cur = undefined;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          p.kill('SIGKILL');
          resolve();
        }, 2000);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        p.stdin!.end();
      });
    },
  };
}
