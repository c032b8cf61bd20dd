// How the orchestrator talks to the controller's HTTP API: CONTROLLER_URL when it is reachable
// from this machine, otherwise an SSH forward to CONTROLLER_LISTEN:CONTROLLER_PORT on the switch
// (the controller listens on 127.0.0.1 by default, so it is never exposed on the network).
// One forward per run, reused by every call; a bearer token when CONTROLLER_TOKEN is set.
import type { Config } from '../config/keys.ts';
import type { Host } from '../hosts/types.ts';
import type { Plan } from '../hosts/dryrun.ts';
import { sh } from '../hosts/quote.ts';
import { tail } from '../run/text.ts';

export interface ControllerClient {
  /** Base URL in use, e.g. http://127.0.0.1:41234 (through the forward). */
  url: string;
  /** JSON call; throws with method, path, status and the controller's error text unless allowFail. */
  call<T = unknown>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    opts?: { timeoutMs?: number; allowFail?: boolean },
  ): Promise<{ status: number; body: T; ms: number }>;
  /** GET /health → status code, 0 when unreachable (never throws). */
  health(timeoutMs?: number): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export class ControllerError extends Error {
  constructor(
    public method: string,
    public path: string,
    public status: number,
    public detail: string,
    public url: string,
  ) {
    super(`controller ${method} ${path} at ${url} ${status ? `answered ${status}` : 'unreachable'}: ${detail}`);
    this.name = 'ControllerError';
  }
}

interface Deps {
  config: Config;
  tofino: () => Host;
  /** Dry run: every call is written into the plan as `[local] METHOD URL {json}` and answered 200 without being sent. */
  plan?: Plan;
}

/** Builds a client; opens the SSH forward lazily on the first call. */
export function controllerClient(deps: Deps): ControllerClient {
  const { config } = deps;
  let base = config.CONTROLLER_URL ? config.CONTROLLER_URL.replace(/\/+$/, '') : '';
  let forward: { localPort: number; close(): Promise<void> } | undefined;
  let opening: Promise<string> | undefined;

  const baseUrl = async (): Promise<string> => {
    if (base) return base;
    opening ??= (async () => {
      forward = await deps.tofino().forward(config.CONTROLLER_PORT, config.CONTROLLER_LISTEN);
      base = `http://127.0.0.1:${forward.localPort || '<forwarded port>'}`;
      return base;
    })();
    return opening;
  };

  const headers = (): Record<string, string> => {
    const h: Record<string, string> = { 'content-type': 'application/json' };
    if (config.CONTROLLER_TOKEN) h.authorization = `Bearer ${config.CONTROLLER_TOKEN}`;
    return h;
  };

  const client: ControllerClient = {
    get url() {
      return base || `(ssh forward to ${config.CONTROLLER_LISTEN}:${config.CONTROLLER_PORT} on tofino)`;
    },
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown, opts: { timeoutMs?: number; allowFail?: boolean } = {}) {
      const url = await baseUrl();
      if (deps.plan) {
        const sent = body === undefined ? (method === 'POST' ? '{}' : '') : JSON.stringify(body);
        deps.plan.record(
          'local',
          'http',
          `${method} ${url}${path}${sent ? ` ${sent}` : ''}${config.CONTROLLER_TOKEN ? ' (Authorization: Bearer $CONTROLLER_TOKEN)' : ''}`,
        );
        return { status: 200, body: undefined as T, ms: 0 };
      }
      const t0 = performance.now();
      let res: Response;
      try {
        res = await fetch(url + path, {
          method,
          headers: headers(),
          body: body === undefined ? (method === 'POST' ? '{}' : undefined) : JSON.stringify(body),
          signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
        });
      } catch (e) {
        if (opts.allowFail) return { status: 0, body: undefined as T, ms: performance.now() - t0 };
        throw new ControllerError(method, path, 0, (e as Error).message, url);
      }
      const text = await res.text();
      const ms = performance.now() - t0;
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* keep text */
      }
      if (!res.ok && !opts.allowFail) {
        const detail =
          typeof parsed === 'object' && parsed && 'error' in parsed
            ? String((parsed as { error: unknown }).error)
            : text.slice(0, 500);
        throw new ControllerError(method, path, res.status, detail, url);
      }
      return { status: res.status, body: parsed as T, ms };
    },
    async health(timeoutMs = 3000) {
      try {
        const r = await client.call('GET', '/health', undefined, { timeoutMs, allowFail: true });
        return { status: r.status, body: r.body };
      } catch {
        return { status: 0, body: undefined };
      }
    },
    async close() {
      const f = forward;
      forward = undefined;
      opening = undefined;
      if (!config.CONTROLLER_URL) base = '';
      if (f) await f.close();
    },
  };
  return client;
}

// One client per run context: phases and migrations share the forward.
const perContext = new WeakMap<object, ControllerClient>();

/** The run's controller client (created on first use, closed by the run's cleanup). */
export function controllerFor(ctx: {
  config: Config;
  host(name: 'tofino'): Host;
  cleanup: { add(label: string, fn: () => Promise<void>): () => void };
  plan?: Plan;
}): ControllerClient {
  let c = perContext.get(ctx);
  if (!c) {
    c = controllerClient({ config: ctx.config, tofino: () => ctx.host('tofino'), plan: ctx.plan });
    perContext.set(ctx, c);
    const created = c;
    ctx.cleanup.add('close the controller connection', async () => {
      perContext.delete(ctx);
      await created.close();
    });
  }
  return c;
}

// ---- the switch update sent from the source server (SWITCH_UPDATE_FROM) ----------------------

type SwitchUpdateConfig = Pick<Config, 'SWITCH_UPDATE_FROM' | 'TESTBED' | 'CONTROLLER_LISTEN' | 'CONTROLLER_PORT' | 'TOFINO_SSH'>;

const loopback = (ip: string) => ip.startsWith('127.');

/** Who sends POST /updateForward: the published scripts sent it from the source server. */
export function switchUpdateFrom(c: SwitchUpdateConfig): 'control' | 'source' {
  if (c.SWITCH_UPDATE_FROM !== 'auto') return c.SWITCH_UPDATE_FROM;
  return c.TESTBED === 'hw' && !loopback(c.CONTROLLER_LISTEN) ? 'source' : 'control';
}

/** The controller as the servers reach it: its listen address, or the switch's SSH address when it listens on every address. */
export const controllerUrlForServers = (c: SwitchUpdateConfig): string =>
  `http://${c.CONTROLLER_LISTEN === '0.0.0.0' ? c.TOFINO_SSH.host : c.CONTROLLER_LISTEN}:${c.CONTROLLER_PORT}`;

/**
 * POST `path` from `host` with p4cf-net at `tool` (the token travels on stdin, never on a command
 * line); the ms are measured on that host. Throws ControllerError like a call from this machine.
 */
export async function postFromHost(
  host: Host,
  tool: string,
  c: SwitchUpdateConfig & Pick<Config, 'CONTROLLER_TOKEN'>,
  path: string,
  body: unknown,
): Promise<{ status: number; ms: number }> {
  const url = `${controllerUrlForServers(c)}${path}`;
  const r = await host.exec(sh`node ${tool} http-post ${url}`, {
    quiet: true,
    allowFail: true,
    timeoutMs: 15_000,
    stdin: `${c.CONTROLLER_TOKEN}\n${JSON.stringify(body)}`,
    dryRunStdout: 'HTTP 200 0',
  });
  const m = /^HTTP (\d{3}) ([\d.]+)/.exec(r.stdout);
  if (r.code !== 0 || !m) {
    const answer = r.stdout.split('\n').slice(1).join(' ').trim();
    let detail = answer || tail(r.stderr || r.stdout, 3);
    try {
      detail = String((JSON.parse(answer) as { error?: unknown }).error ?? detail);
    } catch {
      /* not JSON */
    }
    throw new ControllerError(
      'POST',
      path,
      m ? Number(m[1]) : 0,
      `${detail} (sent from ${host.name})`,
      controllerUrlForServers(c),
    );
  }
  return { status: Number(m[1]), ms: Number(m[2]) };
}
