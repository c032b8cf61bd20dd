// HTTP API of the controller (node:http). Every request body is validated completely before any
// switch write, so a bad request never changes a table.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BfrtError, type BfrtClient } from './bfrt.ts';
import { MAX_SW_PORT } from './config.ts';
import type { ControllerMetrics } from './metrics.ts';
import { NodeError, TABLES, type NodeManager } from './nodes.ts';
import { isIpv4, isMac } from './schema.ts';

export interface ApiDeps {
  client: BfrtClient;
  nodes: NodeManager;
  metrics: ControllerMetrics;
  /** empty/undefined: no authentication */
  token?: string;
  log?: (line: string) => void;
  /** Whether the desired state is on the switch (false until the first apply after a (re)connect). */
  applied?: () => { ok: boolean; error?: string };
  /** How long a request body may take to arrive (default BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY = 64 * 1024;
/** A body that has not fully arrived by then gets 408 (a client that sends less than its Content-Length). */
export const BODY_TIMEOUT_MS = 5_000;

async function readBody(req: IncomingMessage, timeoutMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  let timer: NodeJS.Timeout | undefined;
  const expected = req.headers['content-length'];
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(
            408,
            `request body incomplete after ${timeoutMs} ms: got ${size} of ${expected ?? 'an unknown number of'} bytes (Content-Length)`,
          ),
        ),
      timeoutMs,
    );
  });
  const read = (async () => {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) throw new HttpError(413, `request body larger than ${MAX_BODY} bytes`);
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  })();
  read.catch(() => {}); // settled by the race below; a late rejection must not go unhandled
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readJson(req: IncomingMessage, required: boolean, timeoutMs = BODY_TIMEOUT_MS): Promise<Record<string, unknown>> {
  const text = (await readBody(req, timeoutMs)).toString('utf8').trim();
  if (!text) {
    if (required) throw new HttpError(400, 'request body must be a JSON object');
    return {};
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

// ---- field validators: the message names the field and what is expected ---------------------

function ipv4(b: Record<string, unknown>, f: string): string {
  const v = b[f];
  if (v === undefined) throw new HttpError(400, `missing field ${f} (an IPv4 address)`);
  if (!isIpv4(v)) throw new HttpError(400, `field ${f} must be an IPv4 address like 192.168.12.2, got ${JSON.stringify(v)}`);
  return v;
}

/** Why an address cannot be a forwarding destination (a host behind a switch port), or undefined. */
export function notAHost(ip: string): string | undefined {
  const [a] = ip.split('.').map(Number);
  if (ip === '0.0.0.0') return 'the unspecified address';
  if (ip === '255.255.255.255') return 'the broadcast address';
  if (a === 127) return 'a loopback address';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (a >= 240) return 'a reserved address';
  return undefined;
}

/** An IPv4 address that a switch port can deliver to. */
function hostIpv4(b: Record<string, unknown>, f: string): string {
  const v = ipv4(b, f);
  const why = notAHost(v);
  if (why) throw new HttpError(400, `field ${f} must be a unicast host address, got ${v} (${why})`);
  return v;
}

function swPort(b: Record<string, unknown>, f: string): number {
  const v = b[f];
  if (v === undefined) throw new HttpError(400, `missing field ${f} (a switch dev port 0..${MAX_SW_PORT})`);
  // A JSON number only: a string port is a client bug that a silent conversion would hide.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_SW_PORT) {
    throw new HttpError(
      400,
      `field ${f} must be a switch dev port 0..${MAX_SW_PORT}, got ${JSON.stringify(v)} (a JSON integer is expected)`,
    );
  }
  return v;
}

function optMac(b: Record<string, unknown>, f: string): string | undefined {
  const v = b[f];
  if (v === undefined) return undefined;
  if (v === null)
    throw new HttpError(
      400,
      `field ${f} must be a MAC address like 02:42:c0:a8:0c:02, got null (leave the field out to keep the current MAC)`,
    );
  if (!isMac(v)) throw new HttpError(400, `field ${f} must be a MAC address like 02:42:c0:a8:0c:02, got ${JSON.stringify(v)}`);
  return v.toLowerCase();
}

function bool(b: Record<string, unknown>, f: string): boolean {
  const v = b[f];
  if (typeof v !== 'boolean')
    throw new HttpError(
      400,
      `${v === undefined ? 'missing field' : 'field'} ${f} must be true or false${v === undefined ? '' : `, got ${JSON.stringify(v)}`}`,
    );
  return v;
}

function tokenMatches(given: string, want: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(given), h(want));
}

type Handler = (req: IncomingMessage) => Promise<{ status?: number; body: unknown; text?: string; contentType?: string }>;

export function createApi(deps: ApiDeps): Server {
  const { client, nodes, metrics } = deps;
  const log = deps.log ?? (() => {});
  const bodyMs = deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS;

  const routes: Record<string, { method: 'GET' | 'POST'; handler: Handler }> = {
    '/health': {
      method: 'GET',
      handler: async () => {
        const s = client.state();
        const a = deps.applied?.() ?? { ok: true };
        const up = s.connected && s.bound;
        const status = !up ? 'switch unreachable' : a.ok ? 'ok' : 'tables not programmed';
        return {
          status: up && a.ok ? 200 : 503,
          body: { status, ...s, programmed: a.ok, ...(a.error ? { applyError: a.error } : {}) },
        };
      },
    },

    '/metrics': {
      method: 'GET',
      handler: async () => {
        const s = client.state();
        metrics.connected.set(s.connected && s.bound ? 1 : 0);
        return { body: null, text: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
      },
    },

    '/tables': {
      method: 'GET',
      handler: async () => {
        const names = [...TABLES, ...(client.hasTable('$PORT') ? ['$PORT'] : [])];
        const tables: Record<string, unknown> = {};
        for (const n of names) tables[n] = await client.read(n);
        return { body: { tables, desired: nodes.snapshot() } };
      },
    },

    '/migrateNode': {
      method: 'POST',
      handler: async (req) => {
        const b = await readJson(req, true, bodyMs);
        const oldIp = ipv4(b, 'old_ipv4');
        const newIp = hostIpv4(b, 'new_ipv4');
        const r = await nodes.migrateNode(oldIp, newIp);
        return { body: { ok: true, old_ipv4: oldIp, new_ipv4: newIp, ...r } };
      },
    },

    '/updateForward': {
      method: 'POST',
      handler: async (req) => {
        const b = await readJson(req, true, bodyMs);
        const ip = hostIpv4(b, 'ipv4');
        const port = swPort(b, 'sw_port');
        const mac = optMac(b, 'dst_mac');
        const r = await nodes.updateForward(ip, port, mac);
        return { body: { ok: true, ipv4: ip, sw_port: port, ...(mac ? { dst_mac: mac } : {}), ...r } };
      },
    },

    '/addForward': {
      method: 'POST',
      handler: async (req) => {
        const b = await readJson(req, true, bodyMs);
        const ip = hostIpv4(b, 'dst_addr');
        const port = swPort(b, 'port');
        const mac = optMac(b, 'dst_mac');
        const r = await nodes.addForward(ip, port, mac);
        return { body: { ok: true, dst_addr: ip, port, ...(mac ? { dst_mac: mac } : {}), ...r } };
      },
    },

    '/setMemberStatus': {
      method: 'POST',
      handler: async (req) => {
        const b = await readJson(req, true, bodyMs);
        const ip = ipv4(b, 'ipv4');
        const active = bool(b, 'active');
        const r = await nodes.setMemberActive(ip, active);
        return { body: { ok: true, ipv4: ip, active, ...r } };
      },
    },

    '/deleteClientSnat': {
      method: 'POST',
      handler: async (req) => {
        await readJson(req, false, bodyMs);
        return { body: { ok: true, ...(await nodes.deleteClientSnat()) } };
      },
    },

    '/cleanup': {
      method: 'POST',
      handler: async (req) => {
        await readJson(req, false, bodyMs);
        await nodes.cleanup();
        return { body: { ok: true } };
      },
    },

    '/reinitialize': {
      method: 'POST',
      handler: async (req) => {
        await readJson(req, false, bodyMs);
        await nodes.reinitialize();
        return { body: { ok: true, desired: nodes.snapshot() } };
      },
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const route = routes[path];
    const endpoint = route ? path : 'other';
    let status = 500;
    let detail = '';
    const send = (code: number, body: unknown, text?: string, contentType?: string) => {
      status = code;
      const payload = text ?? JSON.stringify(body);
      res.writeHead(code, { 'content-type': contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    };
    try {
      if (!route) throw new HttpError(404, `no endpoint ${path}; endpoints: ${Object.keys(routes).join(', ')}`);
      if (req.method !== route.method) throw new HttpError(405, `${path} takes ${route.method}, not ${req.method}`);
      // /health stays open so health gates need no secret; it reveals only the session state.
      if (deps.token && path !== '/health') {
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        if (!m || !tokenMatches(m[1], deps.token))
          throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token>)');
      }
      const out = await route.handler(req);
      send(out.status ?? 200, out.body, out.text, out.contentType);
      if (route.method === 'POST') detail = JSON.stringify(out.body).slice(0, 200);
    } catch (e) {
      let code = 500;
      if (e instanceof HttpError) code = e.status;
      else if (e instanceof NodeError) code = e.status;
      else if (e instanceof BfrtError) code = e.kind === 'rejected' ? 502 : e.kind === 'unavailable' ? 503 : 400;
      const message = (e as Error).message;
      detail = message;
      if (code === 408) res.setHeader('connection', 'close');
      if (!res.headersSent) send(code, { error: message });
      else res.destroy();
    } finally {
      const secs = (performance.now() - t0) / 1000;
      metrics.requests.inc({ endpoint, method: req.method ?? '?', status: String(status) });
      metrics.requestSeconds.observe({ endpoint }, secs);
      log(`[http] ${req.method} ${path} ${status} ${(secs * 1000).toFixed(2)} ms${detail ? ` ${detail}` : ''}`);
    }
  }

  return createServer((req, res) => {
    void handle(req, res);
  });
}
