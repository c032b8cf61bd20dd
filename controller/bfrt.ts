// BF Runtime gRPC client: the session protocol of bfrt_grpc (subscribe → bind → schema), name-based
// writes/reads, and self-healing: when switchd (or the model) restarts, the stream channel dies; the
// client notices, reconnects, re-subscribes, re-binds and calls the onReconnect hooks so the caller
// can re-apply its desired state (the bash version had to restart the controller for this).
import * as grpc from '@grpc/grpc-js';
import pRetry from 'p-retry';
import { BfrtError, loadProto, perUpdate, switchMessage } from './bfrt-errors.ts';
import { decodeEntry, encodeEntry } from './bfrt-entries.ts';
import type { BfrtClient, BfrtOptions, DecodedEntry, Update } from './bfrt-types.ts';
import { byName, hasName, parseBfrtJson, type TableInfo, type Value } from './schema.ts';

export type { BfrtClient, BfrtOptions, EntrySpec, Update } from './bfrt-types.ts';
export { BfrtError } from './bfrt-errors.ts';

const ALL_PIPES = 0xffff;

const isDead = (code?: number) => code === grpc.status.UNAVAILABLE || code === grpc.status.CANCELLED;

export function createBfrtClient(opts: BfrtOptions): BfrtClient {
  const { ctor } = loadProto();
  const deviceId = opts.deviceId ?? 0;
  const clientId = opts.clientId ?? 0;
  const rpcTimeoutMs = opts.rpcTimeoutMs ?? 5000;
  const log = opts.log ?? (() => {});
  const hooks: (() => Promise<void>)[] = [];

  let client: grpc.Client | undefined;
  let stream: grpc.ClientDuplexStream<any, any> | undefined;
  let tables: TableInfo[] = [];
  let connected = false;
  let bound = false;
  let closed = false;
  let generation = 0;
  let reconnects = 0;
  let lastError: string | undefined;
  let firstConnect: Promise<void> | undefined;
  let reconnecting: Promise<void> | undefined;
  const abort = new AbortController();

  const deadline = () => new Date(Date.now() + rpcTimeoutMs);
  const target = { device_id: deviceId, pipe_id: ALL_PIPES, direction: 0, prsr_id: 0 };

  function unary<T>(method: string, req: unknown): Promise<T> {
    const c = client as any;
    if (!c) return Promise.reject(new BfrtError(`no session with switch at ${opts.addr}`, 'unavailable'));
    return new Promise((resolve, reject) => {
      c[method](req, { deadline: deadline() }, (err: grpc.ServiceError | null, res: T) => {
        if (!err) return resolve(res);
        if (isDead(err.code) || err.code === grpc.status.DEADLINE_EXCEEDED) markDead(`${method}: ${switchMessage(err)}`);
        reject(
          Object.assign(
            new BfrtError(
              `${method} to ${opts.addr} failed (${grpc.status[err.code] ?? err.code}): ${switchMessage(err)}`,
              isDead(err.code) ? 'unavailable' : 'rejected',
              err.code,
            ),
            { cause: err },
          ),
        );
      });
    });
  }

  function teardown() {
    connected = false;
    bound = false;
    const s = stream;
    const c = client;
    stream = undefined;
    client = undefined;
    try {
      s?.cancel();
    } catch {
      /* already gone */
    }
    try {
      c?.close();
    } catch {
      /* already gone */
    }
  }

  function markDead(why: string) {
    // Only a fully established session is re-established here; failures while connecting
    // belong to the retry loop that is running.
    if (closed || !bound) return;
    lastError = why;
    log(`[bfrt] session with ${opts.addr} lost: ${why}; reconnecting`);
    teardown();
    void reconnectLoop();
  }

  async function connectOnce(): Promise<void> {
    teardown();
    const gen = ++generation;
    client = new ctor(opts.addr, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // No client keepalive pings: switchd's C++ gRPC server answers frequent pings with GOAWAY
      // (too_many_pings). A killed switchd closes the socket (stream error at once); a silent
      // peer shows up as a deadline on the next RPC, which also marks the session dead.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
    await new Promise<void>((resolve, reject) =>
      client!.waitForReady(deadline(), (e) =>
        e ? reject(new BfrtError(`switch gRPC at ${opts.addr} not reachable: ${e.message}`, 'unavailable')) : resolve(),
      ),
    );

    // Subscribe on the stream channel and wait for the switch's acknowledgement.
    const s = (client as any).StreamChannel() as grpc.ClientDuplexStream<any, any>;
    stream = s;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BfrtError(`no Subscribe answer from ${opts.addr} within ${rpcTimeoutMs} ms`, 'unavailable')),
        rpcTimeoutMs,
      );
      const fail = (why: string) => {
        clearTimeout(timer);
        if (gen === generation) markDead(why);
        reject(new BfrtError(`stream channel to ${opts.addr}: ${why}`, 'unavailable'));
      };
      s.on('data', (msg: any) => {
        if (msg?.subscribe && !connected && gen === generation) {
          clearTimeout(timer);
          const code = msg.subscribe.status?.code ?? 0;
          if (code !== 0)
            return reject(
              new BfrtError(`Subscribe refused by ${opts.addr}: code ${code} ${msg.subscribe.status?.message ?? ''}`, 'rejected'),
            );
          connected = true;
          resolve();
        }
      });
      s.on('error', (e: grpc.ServiceError) => fail(`${grpc.status[e.code] ?? e.code} ${e.details ?? e.message}`));
      s.on('end', () => fail('closed by the switch'));
      s.write({
        client_id: clientId,
        subscribe: {
          is_master: true,
          device_id: deviceId,
          notifications: {
            enable_learn_notifications: false,
            enable_idletimeout_notifications: false,
            enable_port_status_change_notifications: false,
            enable_entry_active_notifications: false,
            enable_selector_update_change_notifications: false,
          },
        },
      });
    });

    await unary('SetForwardingPipelineConfig', {
      device_id: deviceId,
      client_id: clientId,
      action: 'BIND',
      config: [{ p4_name: opts.program }],
    });
    const cfg = await unary<any>('GetForwardingPipelineConfig', { device_id: deviceId, client_id: clientId });
    const mine = (cfg.config ?? []).find((c: any) => c.p4_name === opts.program);
    if (!mine) {
      const have = (cfg.config ?? []).map((c: any) => c.p4_name).join(', ') || '(none)';
      throw new BfrtError(`program ${opts.program} not loaded on ${opts.addr}; programs: ${have}`, 'rejected');
    }
    const p4Tables = parseBfrtJson(mine.bfruntime_info ?? '', `bf-rt.json of ${opts.program}`);
    const nonP4 = cfg.non_p4_config?.bfruntime_info?.length
      ? parseBfrtJson(cfg.non_p4_config.bfruntime_info, 'non-P4 bf-rt.json')
      : [];
    tables = [...p4Tables, ...nonP4.filter((t) => !p4Tables.some((p) => p.name === t.name))];
    bound = true;
    lastError = undefined;
    log(`[bfrt] session up: ${opts.addr} device ${deviceId} client ${clientId}, bound ${opts.program}, ${tables.length} tables`);
  }

  async function connectWithRetry(): Promise<void> {
    let lastLogged = '';
    await pRetry(connectOnce, {
      retries: opts.connectRetries ?? Infinity,
      minTimeout: 100,
      maxTimeout: 2000,
      factor: 1.6,
      signal: abort.signal,
      onFailedAttempt: ({ error, attemptNumber }) => {
        lastError = error.message;
        teardown();
        if (error.message !== lastLogged || attemptNumber % 20 === 0) {
          log(`[bfrt] connect attempt ${attemptNumber} to ${opts.addr} failed: ${error.message}`);
          lastLogged = error.message;
        }
      },
      shouldRetry: () => !closed,
    });
  }

  async function reconnectLoop(): Promise<void> {
    if (reconnecting || closed) return reconnecting;
    reconnecting = (async () => {
      try {
        await connectWithRetry();
        reconnects++;
        for (const h of hooks) {
          try {
            await h();
          } catch (e) {
            log(`[bfrt] re-apply after reconnect failed: ${(e as Error).message}`);
          }
        }
      } catch (e) {
        if (!closed) log(`[bfrt] gave up reconnecting to ${opts.addr}: ${(e as Error).message}`);
      } finally {
        reconnecting = undefined;
      }
    })();
    return reconnecting;
  }

  function requireSession() {
    if (!connected || !bound)
      throw new BfrtError(`no session with switch at ${opts.addr}${lastError ? ` (${lastError})` : ''}`, 'unavailable');
  }

  function table(name: string): TableInfo {
    try {
      return byName(tables, name, 'table');
    } catch (e) {
      throw new BfrtError((e as Error).message, 'invalid');
    }
  }

  async function write(updates: Update[], label?: string): Promise<{ ms: number }> {
    requireSession();
    const encoded = updates.map((u) => ({
      type: u.type,
      entity: { table_entry: encodeEntry(table(u.entry.table), u.entry, u.type !== 'DELETE') },
    }));
    const names = updates.map((u) => `${u.type} ${table(u.entry.table).name.replace(/^pipe\./, '')}`);
    const t0 = performance.now();
    let ok = false;
    try {
      const res = await unary<any>('Write', {
        target,
        client_id: clientId,
        updates: encoded,
        atomicity: 'CONTINUE_ON_ERROR',
        p4_name: opts.program,
      }).catch((e) => {
        throw perUpdate(e, updates, opts.addr);
      });
      const errs = (res?.status ?? []).filter((s: any) => s.canonical_code);
      if (errs.length)
        throw new BfrtError(`Write refused by ${opts.addr}: ${errs.map((s: any) => s.message).join('; ')}`, 'rejected');
      ok = true;
    } finally {
      const ms = performance.now() - t0;
      opts.onWrite?.(
        ms,
        updates.map((u) => u.entry.table),
        ok,
      );
      log(`[bfrt] write${label ? ` (${label})` : ''} ${names.join(', ')}: ${ok ? 'ok' : 'FAILED'} ${ms.toFixed(2)} ms`);
    }
    return { ms: Math.round((performance.now() - t0) * 1000) / 1000 };
  }

  async function read(tableName: string, key?: Record<string, Value>): Promise<DecodedEntry[]> {
    requireSession();
    const entry = encodeEntry(table(tableName), { table: tableName, key }, false);
    const c = client as any;
    return new Promise((resolve, reject) => {
      const out: DecodedEntry[] = [];
      const call = c.Read(
        { target, client_id: clientId, entities: [{ table_entry: entry }], p4_name: opts.program },
        { deadline: deadline() },
      );
      call.on('data', (res: any) => {
        // switchd appends the table's default entry (no key, is_default_entry) to a whole-table read.
        for (const en of res.entities ?? [])
          if (en.table_entry && !en.table_entry.is_default_entry) out.push(decodeEntry(tables, en.table_entry));
      });
      call.on('error', (err: grpc.ServiceError) => {
        if (isDead(err.code)) markDead(`Read: ${switchMessage(err)}`);
        reject(
          new BfrtError(
            `Read of ${tableName} from ${opts.addr} failed (${grpc.status[err.code] ?? err.code}): ${switchMessage(err)}`,
            isDead(err.code) ? 'unavailable' : 'rejected',
            err.code,
          ),
        );
      });
      call.on('end', () => resolve(out));
    });
  }

  async function clear(tableName: string): Promise<void> {
    try {
      await write([{ type: 'DELETE', entry: { table: tableName } }], `clear ${tableName}`);
    } catch (e) {
      if (!(e instanceof BfrtError) || e.kind !== 'rejected') throw e;
      // Some switchd versions refuse key-less deletes on some table types: delete one by one.
      const entries = await read(tableName);
      if (!entries.length) return;
      await write(
        entries.map((en) => ({ type: 'DELETE' as const, entry: { table: tableName, key: en.key as Record<string, Value> } })),
        `clear ${tableName} per entry`,
      );
    }
  }

  return {
    program: opts.program,
    connect() {
      firstConnect ??= connectWithRetry();
      return firstConnect;
    },
    state: () => ({ connected, bound, addr: opts.addr, program: opts.program, reconnects, lastError, tables: tables.length }),
    write,
    read,
    clear,
    hasTable: (n) => hasName(tables, n),
    hasAction: (t, a) => hasName(tables, t) && hasName(byName(tables, t, 'table').actions, a),
    table,
    onReconnect: (fn) => {
      hooks.push(fn);
    },
    async close() {
      closed = true;
      abort.abort(new Error('client closed'));
      teardown();
    },
  };
}
