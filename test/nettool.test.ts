// p4cf-net, the bundled tool the health gates and the node transfer run on the hosts: built the
// way the sync phase builds it, then run as a host runs it (`node dist/remote/p4cf-net.mjs …`),
// against real sockets on loopback.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttp, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalNetTool, netToolPath } from '../lib/nettool/index.ts';
import { filesFor } from '../experiments/phases/sync.ts';

let tool = '';
const work = mkdtempSync(join(tmpdir(), 'p4cf-nettool-'));
let http: HttpServer;
let httpPort = 0;

const run = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [tool, ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

beforeAll(async () => {
  tool = await ensureLocalNetTool();
  http = createHttp((req, res) => {
    res.statusCode = req.url === '/ok' ? 200 : 503;
    res.end('x');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  httpPort = (http.address() as AddressInfo).port;
}, 60_000);
afterAll(() => {
  http.close();
  rmSync(work, { recursive: true, force: true });
});

describe('p4cf-net (bundled remote tool)', () => {
  it('probes TCP: open, and the error code of a closed port', async () => {
    expect(await run('tcp-probe', '127.0.0.1', String(httpPort))).toMatchObject({ code: 0, stdout: 'open\n' });
    const closed = await run('tcp-probe', '127.0.0.1', String(await freePort()));
    expect(closed).toMatchObject({ code: 1, stdout: 'ECONNREFUSED\n' });
  });

  it('probes HTTP: 200 passes, any other status fails with it', async () => {
    expect(await run('http-probe', `http://127.0.0.1:${httpPort}/ok`)).toMatchObject({ code: 0, stdout: 'HTTP 200\n' });
    expect(await run('http-probe', `http://127.0.0.1:${httpPort}/bad`)).toMatchObject({ code: 1, stdout: 'HTTP 503\n' });
  });

  it('streams a file: serve once, pull (started first, it retries until the listener is up)', async () => {
    const src = join(work, 'src.bin');
    const dst = join(work, 'dst.bin');
    const data = Buffer.alloc(3 << 20, 7);
    data.write('p4cf', 12345);
    writeFileSync(src, data);
    const port = String(await freePort());
    const pull = run('pull', '127.0.0.1', port, dst);
    await new Promise((r) => setTimeout(r, 200));
    const serve = run('serve', src, '127.0.0.1', port);
    expect((await pull).code).toBe(0);
    expect((await serve).code).toBe(0);
    expect(readFileSync(dst).equals(data)).toBe(true);
  });

  it('pull gives up on a stalled stream (no data for STALL_MS) and on a listener that never comes', async () => {
    const stall = createServer((c) => {
      c.write('partial');
    });
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', () => r()));
    const t0 = Date.now();
    const r = await run('pull', '127.0.0.1', String((stall.address() as AddressInfo).port), join(work, 'stalled.bin'), '300');
    stall.close();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no data for 300 ms/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(readFileSync(join(work, 'stalled.bin'), 'utf8')).toBe('partial');
    const none = await run('pull', '127.0.0.1', String(await freePort()), join(work, 'none.bin'), '300');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/connect 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    expect((await run('pull', '127.0.0.1', '1', join(work, 'x'), 'soon')).stderr).toMatch(
      /STALL_MS "soon" is not a positive integer/,
    );
  });

  it('lazy-strip-after copies only once stdin says go, and does nothing when stdin ends first', async () => {
    // a pagemap with one non-lazy page and one lazy one (lazy-images.test.ts has the format)
    const { encodeFields, writeImage } = await import('../lib/migration/criu-image.ts');
    const { PAGEMAP_MAGIC, PE_LAZY, PE_PRESENT } = await import('../lib/migration/lazy-images.ts');
    const v = (no: number, value: number) => ({ no, wire: 0, value: BigInt(value) });
    const src = join(work, 'dump');
    mkdirSync(src, { recursive: true });
    writeFileSync(
      join(src, 'pagemap-1.img'),
      writeImage({
        magic: PAGEMAP_MAGIC,
        entries: [
          encodeFields([v(1, 1)]),
          encodeFields([v(1, 4096), v(2, 1), v(4, PE_PRESENT)]),
          encodeFields([v(1, 8192), v(2, 1), v(4, PE_PRESENT | PE_LAZY)]),
        ],
      }),
    );
    writeFileSync(join(src, 'pages-1.img'), Buffer.alloc(8192, 7));
    const withStdin = (input: string | null, dst: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const p = execFile(process.execPath, [tool, 'lazy-strip-after', src, dst], { timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        setTimeout(() => p.stdin!.end(input ?? undefined), 200);
      });
    const ok = await withStdin('go\n', join(work, 'copy'));
    expect(ok.stdout.trim()).toBe('lazy-strip files=2 pages=2 lazy=1 kept_bytes=4096');
    const copy = readFileSync(join(work, 'copy', 'pages-1.img'));
    expect([copy.length, copy[0], copy[4096]]).toEqual([8192, 7, 0]);
    const gaveUp = await withStdin(null, join(work, 'nocopy'));
    expect(gaveUp.code).toBe(3);
    expect(gaveUp.stderr).toMatch(/stdin closed before `go`/);
    expect(existsSync(join(work, 'nocopy'))).toBe(false);
  });

  it('refuses bad usage with exit 2, naming the problem', async () => {
    expect(await run('tcp-probe', '127.0.0.1', '99999')).toMatchObject({ code: 2 });
    expect((await run('tcp-probe', '127.0.0.1', '99999')).stderr).toMatch(/port "99999" is not a TCP port/);
    expect((await run('frobnicate')).stderr).toMatch(/unknown command "frobnicate"/);
    expect((await run('serve', 'f')).code).toBe(2);
  });

  it('is shipped to every host, at the path the gates use', () => {
    const available = ['controller.mjs', 'loadgen.mjs', 'p4cf-net.mjs', 'stream-server.mjs', 'switch-model.mjs'];
    for (const h of ['tofino', 'lakewood', 'loveland'] as const) {
      expect(filesFor(h, undefined, available, ['stream-server.mjs', 'loadgen.mjs']), h).toContain('p4cf-net.mjs');
      expect(netToolPath({ REMOTE_PROJECT_DIR: '/opt/p4cf/{host}' }, h)).toBe(`/opt/p4cf/${h}/p4cf-net.mjs`);
    }
    expect(netToolPath({ REMOTE_PROJECT_DIR: '/opt/p4cf/{host}' }, 'local')).toBe(tool);
  });
});
