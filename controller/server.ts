// Wires client, node manager, metrics and HTTP API into one running controller.
import type { AddressInfo } from 'node:net';
import { createApi } from './api.ts';
import { createBfrtClient, type BfrtClient } from './bfrt.ts';
import type { ControllerConfig } from './config.ts';
import { createMetrics, type ControllerMetrics } from './metrics.ts';
import { createNodeManager, type NodeManager } from './nodes.ts';

export interface ControllerOptions {
  config: ControllerConfig;
  listen?: string;
  /** 0 picks a free port */
  port?: number;
  token?: string;
  log?: (line: string) => void;
  /** Connection attempts per (re)connection round; Infinity (default) for a daemon. */
  connectRetries?: number;
  rpcTimeoutMs?: number;
  defaultMetrics?: boolean;
  /** Request bodies that take longer get 408 (tests shorten it). */
  bodyTimeoutMs?: number;
}

export interface RunningController {
  url: string;
  port: number;
  client: BfrtClient;
  nodes: NodeManager;
  metrics: ControllerMetrics;
  /** Resolves after the first successful programming of the switch. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  const log = opts.log ?? ((l: string) => console.log(`${new Date().toISOString()} ${l}`));
  const metrics = createMetrics({ defaultMetrics: opts.defaultMetrics });
  const { config } = opts;
  const client = createBfrtClient({
    addr: config.addr,
    program: config.program,
    deviceId: config.id,
    clientId: config.client_id,
    log,
    connectRetries: opts.connectRetries,
    rpcTimeoutMs: opts.rpcTimeoutMs,
    onWrite: (ms, tables, ok) => metrics.grpcWriteSeconds.observe({ table: tables[0] ?? '', ok: String(ok) }, ms / 1000),
  });
  const nodes = createNodeManager(client, config, log);
  let applied: { ok: boolean; error?: string } = { ok: false, error: 'not yet connected' };

  const apply = async (what: string, fn: () => Promise<void>) => {
    applied = { ok: false, error: `${what} in progress` };
    try {
      await fn();
      applied = { ok: true };
    } catch (e) {
      applied = { ok: false, error: `${what} failed: ${(e as Error).message}` };
      log(`[controller] ${applied.error}`);
      throw e;
    }
  };

  client.onReconnect(async () => {
    metrics.reconnects.inc();
    // The switch may have lost every entry (restart) or kept them (only our channel broke):
    // reapply() leaves a switch that holds the desired state alone, else clears and re-inserts.
    await apply('re-apply after reconnect', () => nodes.reapply());
  });

  // A successful /reinitialize brings the switch back in line whatever failed before.
  const apiNodes: NodeManager = { ...nodes, reinitialize: () => apply('reinitialize', () => nodes.reinitialize()) };
  const server = createApi({
    client,
    nodes: apiNodes,
    metrics,
    token: opts.token,
    log,
    applied: () => applied,
    bodyTimeoutMs: opts.bodyTimeoutMs,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) =>
      reject(new Error(`controller HTTP cannot listen on ${opts.listen ?? '127.0.0.1'}:${opts.port ?? 5000}: ${e.message}`)),
    );
    server.listen(opts.port ?? 5000, opts.listen ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.listen ?? '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log(
    `[controller] listening on ${url} (program ${config.program}, switch ${config.addr}${opts.token ? ', token required' : ''})`,
  );

  const ready = client.connect().then(() => apply('initial programming', () => nodes.reinitialize()));
  ready.catch(() => {
    /* reported through /health and the log */
  });

  return {
    url,
    port,
    client,
    nodes,
    metrics,
    ready,
    async close() {
      await client.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
