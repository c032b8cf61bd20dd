// Helpers for tests and benchmarks that drive the controller against the switch model (started
// with startModel from p4/model/raw-client.ts): call the API, wait, run processes in namespaces.
import { spawn } from 'node:child_process';
import { pollUntil } from '../lib/run/poll.ts';
export { freePort } from '../lib/hosts/ports.ts';

export interface ApiResult {
  status: number;
  body: any;
}

/** Call the controller API; `body` undefined sends no body. */
export async function api(
  url: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  token?: string,
  rawBody?: string,
): Promise<ApiResult> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined || rawBody !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* metrics are text */
  }
  return { status: res.status, body: parsed };
}

// ---- namespaces and processes inside them (root only) ----------------------------------------

export interface NsProcess {
  pid: number;
  output(): string;
  exited: Promise<number>;
  stop(): Promise<void>;
}

/** Run `node -e script args…` inside a namespace; `ip netns exec` keeps the PID, which stop() kills. */
export function nodeInNs(ns: string, script: string, args: string[] = []): NsProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out = (out + d).slice(-100_000);
  });
  child.stderr!.on('data', (d) => {
    out = (out + d).slice(-100_000);
  });
  const exited = new Promise<number>((r) => child.once('exit', (code, sig) => r(code ?? (sig ? 128 : 0))));
  const pid = child.pid!;
  return {
    pid,
    exited,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const t = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Waits until a process prints `re`; bounded. */
export async function waitOutput(p: NsProcess, re: RegExp, ms: number, what: string): Promise<void> {
  if ((await pollUntil(() => re.test(p.output()), ms, 25)).value) return;
  throw new Error(`${what}: no ${re} within ${ms} ms; output: ${p.output().slice(-500)}`);
}

/** A TCP server on `port` answering every connection with `name\n` then echoing what it receives. */
export const NAMED_ECHO_SERVER = `
const net = require('node:net');
const [name, port] = process.argv.slice(1);
net.createServer((s) => { s.setNoDelay(true); s.write(name + '\\n'); s.pipe(s); s.on('error', () => {}); })
  .listen(Number(port), () => console.log('listening ' + port));
`;

/** A UDP server on `port` answering every datagram with `name:` + the datagram. */
export const NAMED_UDP_SERVER = `
const dgram = require('node:dgram');
const [name, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from(name + ':'), m]), r.port, r.address));
s.bind(Number(port), () => console.log('listening ' + port));
`;
