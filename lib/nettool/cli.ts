// p4cf-net: the small network programs the orchestrator runs on the hosts, bundled into
// dist/remote/p4cf-net.mjs and shipped by the sync phase (hosts need nothing but node):
//   tcp-probe HOST PORT      print `open` and exit 0 when a TCP connection succeeds (2 s timeout)
//   http-probe URL           print `HTTP <status>`; exit 0 on 200 (3 s timeout)
//   serve FILE IP PORT       send FILE to the first connection on IP:PORT, then exit
//   pull IP PORT FILE [MS]   connect (retrying refused connects while the server starts, each attempt and
//                            the whole connect phase bounded by MS, default 5000) and write the stream to
//                            FILE; no data for MS ms aborts (exit 1)
//   free-port IP             print a TCP port free on IP now (the checkpoint transfer's, TRANSFER_PORT_PICK=free)
//   http-post URL            POST stdin's JSON (after a first line holding the bearer token, empty for
//                            none: a token never goes on a command line); prints `HTTP <status> <ms>`
//                            and the answer; exit 0 on 2xx (5 s timeout)
//   hold HOST PORT N MS      open N TCP connections, print `held K`, keep them MS ms, then close (new-connection probe)
//   ckpt-rewrite TAR|DIR OLD_IP NEW_IP OLD_MAC NEW_MAC   give a checkpoint archive (or an extracted one) a new address (vip mode)
//   ckpt-rewrite-when GO DONE TAR OLD_IP NEW_IP OLD_MAC NEW_MAC   the same, started ahead: waits for `go` on
//                            the FIFO GO, then rewrites TAR and writes its result line to the FIFO DONE
//   lazy-strip SRC DST       DST = the images of SRC with only the pages a lazy restore reads itself (lazy engine)
//   lazy-strip-after SRC DST the same once stdin says `go` (started before the dump: node's start is not in
//                            the downtime); EOF first: nothing done, exit 3
// Probes print their state on stdout (the health gates show it); failures exit 1, bad usage 2.
import { createReadStream, createWriteStream, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { rewriteCheckpointDir, rewriteCheckpointTar } from '../migration/ckpt-rewrite.ts';
import { stripLazyPages } from '../migration/lazy-images.ts';

const USAGE =
  'usage: p4cf-net tcp-probe HOST PORT | http-probe URL | serve FILE IP PORT | pull IP PORT FILE [STALL_MS] | free-port IP | http-post URL (token line + JSON on stdin) | hold HOST PORT N MS | ckpt-rewrite TAR|DIR OLD_IP NEW_IP OLD_MAC NEW_MAC | ckpt-rewrite-when GO DONE TAR OLD_IP NEW_IP OLD_MAC NEW_MAC | lazy-strip SRC DST | lazy-strip-after SRC DST';

/** `rewrite sockets=N config=N network=N [tar=in-place|rewritten]` for a checkpoint archive or folder. */
function rewriteLine(path: string, [oldIp, newIp, oldMac, newMac]: string[]): string {
  const ch = { oldIp, newIp, oldMac, newMac };
  const r = statSync(path, { throwIfNoEntry: false })?.isFile() ? rewriteCheckpointTar(path, ch) : rewriteCheckpointDir(path, ch);
  return `rewrite sockets=${r.sockets} config=${r.config} network=${r.network}${'tar' in r ? ` tar=${r.tar}` : ''}`;
}

function fail(msg: string, code = 1): never {
  console.error(msg);
  process.exit(code);
}

function port(s: string | undefined): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 65535) fail(`port ${JSON.stringify(s)} is not a TCP port (1-65535)\n${USAGE}`, 2);
  return n;
}

function tcpProbe(host: string, p: number): void {
  const s = connect(p, host);
  s.setTimeout(2000);
  s.on('connect', () => {
    console.log('open');
    process.exit(0);
  });
  s.on('timeout', () => {
    console.log('connect timeout');
    process.exit(1);
  });
  s.on('error', (e: NodeJS.ErrnoException) => {
    console.log(e.code ?? e.message);
    process.exit(1);
  });
}

function httpProbe(url: string): void {
  const c = new AbortController();
  setTimeout(() => c.abort(), 3000).unref();
  fetch(url, { signal: c.signal }).then(
    (r) => {
      console.log(`HTTP ${r.status}`);
      process.exit(r.status === 200 ? 0 : 1);
    },
    (e: Error & { cause?: { code?: string } }) => {
      console.log(String(e.cause?.code ?? e.message));
      process.exit(1);
    },
  );
}

function serve(file: string, ip: string, p: number): void {
  const srv = createServer((c) => {
    srv.close();
    const r = createReadStream(file);
    r.on('error', (e) => fail(`read ${file}: ${e.message}`));
    c.on('error', (e) => fail(`send to ${c.remoteAddress}: ${e.message}`));
    c.on('close', () => process.exit(0));
    r.pipe(c);
  });
  srv.on('error', (e) => fail(`listen ${ip}:${p}: ${e.message}`));
  srv.listen(p, ip);
}

function pull(ip: string, p: number, file: string, stallMs: number): void {
  const deadline = Date.now() + stallMs;
  const attempt = () => {
    const c = connect(p, ip);
    c.setTimeout(Math.max(1, Math.min(stallMs, deadline - Date.now())));
    c.once('timeout', () => fail(`connect ${ip}:${p}: no connection within ${stallMs} ms`));
    c.once('error', (e: NodeJS.ErrnoException) => {
      c.destroy();
      if (e.code === 'ECONNREFUSED' && Date.now() < deadline) setTimeout(attempt, 20);
      else fail(`connect ${ip}:${p}: ${e.message}`);
    });
    c.once('connect', () => {
      c.removeAllListeners('timeout');
      c.setTimeout(stallMs);
      c.on('timeout', () => fail(`pull from ${ip}:${p}: no data for ${stallMs} ms`));
      const w = createWriteStream(file);
      w.on('error', (e) => fail(`write ${file}: ${e.message}`));
      w.on('finish', () => process.exit(0));
      c.on('error', (e) => fail(`pull from ${ip}:${p}: ${e.message}`));
      c.pipe(w);
    });
  };
  attempt();
}

async function httpPost(url: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  const nl = text.indexOf('\n');
  const token = nl < 0 ? '' : text.slice(0, nl).trim();
  const body = nl < 0 ? text : text.slice(nl + 1);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
  const t0 = performance.now();
  try {
    const r = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5000) });
    const answer = await r.text();
    console.log(`HTTP ${r.status} ${(performance.now() - t0).toFixed(3)}`);
    console.log(answer);
    process.exit(r.status >= 200 && r.status < 300 ? 0 : 1);
  } catch (e) {
    fail(`POST ${url}: ${String((e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message)}`);
  }
}

function hold(host: string, p: number, n: number, ms: number): void {
  let held = 0;
  let settled = 0;
  const socks = Array.from({ length: n }, () => {
    const s = connect(p, host);
    s.setTimeout(3000);
    s.once('connect', () => {
      held++;
      s.setTimeout(0);
      if (++settled === n) console.log(`held ${held}`);
    });
    s.once('timeout', () => {
      s.destroy();
      if (++settled === n) console.log(`held ${held}`);
    });
    s.on('error', () => {
      if (++settled === n) console.log(`held ${held}`);
    });
    return s;
  });
  setTimeout(() => {
    for (const s of socks) s.destroy();
    process.exit(held === n ? 0 : 1);
  }, ms);
}

function ms(s: string | undefined): number {
  if (s === undefined) return 5000;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) fail(`STALL_MS ${JSON.stringify(s)} is not a positive integer (milliseconds)\n${USAGE}`, 2);
  return n;
}

const [sub, ...a] = process.argv.slice(2);
/** Blocks until stdin brings a line `go` (true) or ends (false). */
function waitForGo(): boolean {
  const buf = Buffer.alloc(64);
  let got = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2); // a non-blocking stdin: look again in 2 ms
      continue;
    }
    if (n === 0) return false;
    got += buf.toString('utf8', 0, n);
    if (got.split('\n').some((l) => l.trim() === 'go')) return true;
  }
}

const need = (n: number) => {
  if (a.length !== n || a.some((x) => !x)) fail(`${sub} needs ${n} argument(s)\n${USAGE}`, 2);
};
switch (sub) {
  case 'tcp-probe':
    need(2);
    tcpProbe(a[0], port(a[1]));
    break;
  case 'http-probe':
    need(1);
    httpProbe(a[0]);
    break;
  case 'serve':
    need(3);
    serve(a[0], a[1], port(a[2]));
    break;
  case 'pull':
    if (a.length !== 4) need(3);
    pull(a[0], port(a[1]), a[2], ms(a[3]));
    break;
  case 'http-post':
    need(1);
    void httpPost(a[0]);
    break;
  case 'free-port': {
    // a port the kernel hands out on IP now (the published scripts picked a free transfer port)
    need(1);
    const srv = createServer();
    srv.on('error', (e) => fail(`free-port ${a[0]}: ${e.message}`));
    srv.listen(0, a[0], () => {
      const addr = srv.address();
      console.log(typeof addr === 'object' && addr ? addr.port : 0);
      srv.close(() => process.exit(0));
    });
    break;
  }
  case 'hold': {
    need(4);
    const [n, ms] = [Number(a[2]), Number(a[3])];
    if (!Number.isInteger(n) || n < 1 || n > 1000 || !Number.isInteger(ms) || ms < 1 || ms > 600_000)
      fail(`hold: N must be 1-1000 and MS 1-600000\n${USAGE}`, 2);
    hold(a[0], port(a[1]), n, ms);
    break;
  }
  case 'ckpt-rewrite': {
    need(5);
    try {
      console.log(rewriteLine(a[0], a.slice(1)));
    } catch (e) {
      fail(`ckpt-rewrite ${a[0]}: ${(e as Error).message}`);
    }
    break;
  }
  case 'ckpt-rewrite-when': {
    need(7);
    // started while the checkpoint is made and moved, so node's start is not in the downtime;
    // anything but `go` (the FIFO closed empty: the migration went another way) ends it
    if (readFileSync(a[0], 'utf8').trim() !== 'go') break;
    let line: string;
    try {
      line = rewriteLine(a[2], a.slice(3));
    } catch (e) {
      line = `ckpt-rewrite ${a[2]}: ${(e as Error).message}`;
    }
    writeFileSync(a[1], `${line}\n`);
    process.exitCode = line.startsWith('rewrite ') ? 0 : 1;
    break;
  }
  case 'lazy-strip':
  case 'lazy-strip-after': {
    need(2);
    if (sub === 'lazy-strip-after' && !waitForGo()) fail('lazy-strip-after: stdin closed before `go` (the dump failed?)', 3);
    try {
      const r = stripLazyPages(a[0], a[1]);
      console.log(`lazy-strip files=${r.files} pages=${r.pages} lazy=${r.lazyPages} kept_bytes=${r.keptBytes}`);
    } catch (e) {
      fail(`lazy-strip ${a[0]}: ${(e as Error).message}`);
    }
    break;
  }
  default:
    fail(`unknown command ${JSON.stringify(sub ?? '')}\n${USAGE}`, 2);
}
