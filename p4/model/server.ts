// The BfRuntime gRPC service of the switch model: subscription and binding as bf_switchd does
// them, Write/Read on the table state (write.ts, entities.ts), every committed Write applied to
// the data plane, and port status change notifications on the stream.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Schema } from './schema.ts';
import { type State, emptyState, modelError } from './tables.ts';
import type { Dataplane } from './dataplane.ts';
import { batchError, rpcError } from './status.ts';
import { initialDefaults } from './defaults.ts';
import { type Tables, runBatch } from './write.ts';
import { RpcLevelError, readEntity } from './entities.ts';
import type { PortWatch } from './port-watch.ts';

export const LOADER_OPTS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

export interface ModelOpts {
  protoPath: string;
  program: string;
  schema: Schema;
  /** bf-rt.json text served for the program and for the non-P4 tables */
  programJson: string;
  nonP4Json: string;
  ports: Map<number, string>;
  dataplane: Dataplane;
  deviceId: number;
  log: (line: string) => void;
  /** Starts watching the port interfaces' link state (none: no port notifications, e.g. a dry data plane). */
  watchPorts?: (onChange: (port: number, up: boolean) => void) => PortWatch;
}

export interface Model {
  server: grpc.Server;
  state(): State;
  tables(): Tables;
  boundClient(): number | undefined;
  close(): void;
}

export function createModel(o: ModelOpts): Model {
  const pkgDef = protoLoader.loadSync(o.protoPath, LOADER_OPTS);
  const proto = grpc.loadPackageDefinition(pkgDef) as any;
  const service = proto.bfrt_proto.BfRuntime.service as grpc.ServiceDefinition;

  let tables: Tables = {
    state: emptyState(o.schema),
    defaults: initialDefaults(o.schema),
    entryScope: new Map(),
    portNotify: new Map(),
  };
  const streams = new Map<number, grpc.ServerDuplexStream<any, any>>();
  /** client id → the notifications its Subscribe asked for */
  const notifications = new Map<number, Record<string, boolean>>();
  let bound: number | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const portTable = o.schema.tables.find((t) => t.table_type === 'PortConfigure');

  const ms = (t0: bigint) => `${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)}ms`;
  const logRpc = (method: string, detail: string, result: string, t0: bigint) =>
    o.log(`[rpc] ${method} ${detail} result=${result} latency=${ms(t0)}`);
  const codeName = (c: number) => grpc.status[c] ?? String(c);

  const checkDevice = (id: number | undefined) => {
    if ((id ?? 0) !== o.deviceId)
      throw modelError(grpc.status.INVALID_ARGUMENT, `device ${id} does not exist (this switch has device ${o.deviceId})`);
  };
  const checkP4Name = (name: string | undefined) => {
    if (name && name !== o.program)
      throw modelError(
        grpc.status.INVALID_ARGUMENT,
        `program ${JSON.stringify(name)} is not loaded (this switch runs ${o.program})`,
      );
  };

  function release(clientId: number, call: grpc.ServerDuplexStream<any, any>, why: string) {
    if (streams.get(clientId) !== call) return;
    streams.delete(clientId);
    notifications.delete(clientId);
    if (tables.portNotify.has(clientId)) {
      tables = { ...tables, portNotify: new Map([...tables.portNotify].filter(([c]) => c !== clientId)) };
    }
    if (bound === clientId) {
      bound = undefined;
      o.log(`[rpc] client ${clientId} ${why}: program ${o.program} unbound`);
    } else o.log(`[rpc] client ${clientId} ${why}`);
  }

  const impl: grpc.UntypedServiceImplementation = {
    StreamChannel(call: grpc.ServerDuplexStream<any, any>) {
      let clientId: number | undefined;
      call.on('data', (msg: any) => {
        const t0 = process.hrtime.bigint();
        if (msg.update !== 'subscribe') return;
        const id = Number(msg.client_id);
        const existing = streams.get(id);
        if (existing && existing !== call) {
          const m = `client ${id} is already subscribed on another stream`;
          call.write({ subscribe: { ...msg.subscribe, status: { code: grpc.status.ALREADY_EXISTS, message: m, details: [] } } });
          logRpc('StreamChannel.Subscribe', `client=${id}`, 'ALREADY_EXISTS', t0);
          call.end();
          return;
        }
        if ((msg.subscribe?.device_id ?? 0) !== o.deviceId) {
          call.write({
            subscribe: {
              ...msg.subscribe,
              status: {
                code: grpc.status.INVALID_ARGUMENT,
                message: `device ${msg.subscribe?.device_id} does not exist`,
                details: [],
              },
            },
          });
          logRpc('StreamChannel.Subscribe', `client=${id}`, 'INVALID_ARGUMENT', t0);
          return;
        }
        clientId = id;
        streams.set(id, call);
        notifications.set(id, { ...(msg.subscribe?.notifications ?? {}) });
        call.write({ subscribe: { ...msg.subscribe, status: { code: 0, message: 'Subscribe successful', details: [] } } });
        logRpc('StreamChannel.Subscribe', `client=${id} device=${o.deviceId}`, 'OK', t0);
      });
      const done = (why: string) => {
        if (clientId !== undefined) release(clientId, call, why);
      };
      call.on('end', () => {
        done('closed its stream');
        call.end();
      });
      call.on('cancelled', () => done('cancelled its stream'));
      call.on('error', () => done('stream failed'));
      call.on('close', () => done('stream closed'));
    },

    SetForwardingPipelineConfig(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const t0 = process.hrtime.bigint();
      const r = call.request;
      const id = Number(r.client_id);
      try {
        checkDevice(r.device_id);
        const names = (r.config ?? []).map((c: any) => c.p4_name);
        for (const n of names) checkP4Name(n);
        if (r.action === 'VERIFY') {
          logRpc('SetForwardingPipelineConfig', `client=${id} action=VERIFY`, 'OK', t0);
          return cb(null, { set_forwarding_pipeline_config_response_type: 'WARM_INIT_FINISHED' });
        }
        if (r.action !== 'BIND' && r.action !== 'VERIFY_AND_WARM_INIT_BEGIN_AND_END') {
          throw modelError(
            grpc.status.UNIMPLEMENTED,
            `action ${r.action} is not supported by the model (BIND, VERIFY, VERIFY_AND_WARM_INIT_BEGIN_AND_END)`,
          );
        }
        if (!streams.has(id))
          throw modelError(grpc.status.FAILED_PRECONDITION, `client ${id} has not subscribed on a StreamChannel`);
        if (bound !== undefined && bound !== id) {
          throw modelError(
            grpc.status.ALREADY_EXISTS,
            `program ${o.program} is already bound to client ${bound}; only one client may bind at a time`,
          );
        }
        bound = id;
        logRpc('SetForwardingPipelineConfig', `client=${id} action=${r.action} program=${o.program}`, 'OK', t0);
        cb(null, { set_forwarding_pipeline_config_response_type: 'WARM_INIT_FINISHED' });
      } catch (e: any) {
        logRpc('SetForwardingPipelineConfig', `client=${id} action=${r.action}`, `${codeName(e.code)} (${e.message})`, t0);
        cb(rpcError(e.code ?? grpc.status.INTERNAL, e.message));
      }
    },

    GetForwardingPipelineConfig(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const t0 = process.hrtime.bigint();
      try {
        checkDevice(call.request.device_id);
        cb(null, {
          config: [
            {
              p4_name: o.program,
              bfruntime_info: Buffer.from(o.programJson),
              profiles: [{ profile_name: 'pipe', context: Buffer.from('{}'), binary: Buffer.alloc(0), pipe_scope: [0, 1, 2, 3] }],
            },
          ],
          non_p4_config: { bfruntime_info: Buffer.from(o.nonP4Json) },
        });
        logRpc('GetForwardingPipelineConfig', `client=${call.request.client_id}`, 'OK', t0);
      } catch (e: any) {
        logRpc('GetForwardingPipelineConfig', `client=${call.request.client_id}`, codeName(e.code), t0);
        cb(rpcError(e.code ?? grpc.status.INTERNAL, e.message));
      }
    },

    Write(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const t0 = process.hrtime.bigint();
      const r = call.request;
      const id = Number(r.client_id);
      const meta = (k: string) => String(call.metadata.get(k)[0] ?? '') === '1';
      // Writes are serialized: each one sees the state the previous one committed to the kernel.
      queue = queue.then(async () => {
        try {
          checkDevice(r.target?.device_id);
          if (bound !== id) {
            throw modelError(
              grpc.status.FAILED_PRECONDITION,
              bound === undefined
                ? `client ${id} is not bound to a program; bind with SetForwardingPipelineConfig first`
                : `client ${id} is not bound; program ${o.program} is bound to client ${bound}`,
            );
          }
          checkP4Name(r.p4_name);
          if (r.atomicity === 'DATAPLANE_ATOMIC')
            throw modelError(
              grpc.status.UNIMPLEMENTED,
              "DATAPLANE_ATOMIC isn't implemented (as in bf_switchd 9.13: use ROLLBACK_ON_ERROR)",
            );
        } catch (e: any) {
          logRpc('Write', `client=${id}`, `${codeName(e.code)} (${e.message})`, t0);
          return cb(rpcError(e.code ?? grpc.status.INTERNAL, e.message));
        }
        const ctx = {
          schema: o.schema,
          clientId: id,
          ports: o.ports,
          ignoreNotFound: meta('ignore_not_found'),
          portNotificationsSubscribed: !!notifications.get(id)?.enable_port_status_change_notifications,
        };
        let batch: ReturnType<typeof runBatch>;
        try {
          batch = runBatch(ctx, tables, r.updates ?? [], r.atomicity ?? 'CONTINUE_ON_ERROR');
        } catch (e: any) {
          // A bug in the model, not a refusal: say so rather than leave the call hanging.
          logRpc('Write', `client=${id}`, `INTERNAL (${e.stack ?? e.message})`, t0);
          return cb(rpcError(grpc.status.INTERNAL, `switch model: ${e.message}`));
        }
        const outcomes = batch.outcomes;
        if (batch.changed) {
          try {
            const { warnings } = await o.dataplane.apply(batch.tables.state);
            for (const w of warnings) o.log(`[dataplane] warning: ${w}`);
            tables = batch.tables;
          } catch (e: any) {
            // BF_HW_UPDATE_FAILED-like: nothing of this Write took effect.
            for (const out of outcomes) {
              out.error ??= modelError(grpc.status.INTERNAL, `data plane refused the update, tables unchanged: ${e.message}`);
            }
          }
        }
        const errors = outcomes.map((x) => x.error);
        const ops = outcomes.map((x) => (x.error ? `${x.op} ${x.error.message}` : x.op));
        const failed = batchError('Write', errors);
        logRpc(
          'Write',
          `client=${id} ${r.atomicity ?? 'CONTINUE_ON_ERROR'} ${ops.join('; ')}`,
          failed
            ? `UNKNOWN (${errors.filter(Boolean).length} of ${errors.length} failed: ${errors
                .filter(Boolean)
                .map((x) => codeName(x!.code))
                .join(', ')})`
            : 'OK',
          t0,
        );
        if (failed) return cb(failed);
        // error_in_resp metadata: every update's status also in the response; otherwise only the
        // INSERT_OR_MODIFY "already exists" notes switchd adds.
        const status = meta('error_in_resp')
          ? outcomes.map((x) => x.response ?? { canonical_code: 0, code: 0, message: '', space: '' })
          : outcomes.flatMap((x) => (x.response ? [x.response] : []));
        cb(null, { status });
      });
    },

    Read(call: grpc.ServerWritableStream<any, any>) {
      const t0 = process.hrtime.bigint();
      const r = call.request;
      const parts: string[] = [];
      try {
        checkDevice(r.target?.device_id);
        checkP4Name(r.p4_name);
        const entities: object[] = [];
        const errors: ({ code: number; message: string } | undefined)[] = [];
        for (const ent of r.entities ?? []) {
          try {
            const got = readEntity(o.schema, tables, Number(r.client_id), ent, (p) => watch?.state().get(p));
            entities.push(...got);
            parts.push(`${ent.entity} ${ent[ent.entity]?.table_id ?? ''} n=${got.length}`);
            errors.push(undefined);
          } catch (e: any) {
            if (e instanceof RpcLevelError) throw e;
            parts.push(`${ent.entity} ${ent[ent.entity]?.table_id ?? ''} ${codeName(e.code)} (${e.message})`);
            errors.push({ code: e.code ?? grpc.status.INTERNAL, message: e.message });
          }
        }
        const status =
          String(call.metadata.get('error_in_resp')[0] ?? '') === '1'
            ? errors.map((e) => ({ canonical_code: e?.code ?? 0, message: e?.message ?? '', space: '' }))
            : [];
        // switchd writes the one response with what it could read, then the status.
        call.write({ entities, status });
        const failed = batchError('Read', errors);
        logRpc('Read', `client=${r.client_id} ${parts.join('; ')}`, failed ? 'UNKNOWN' : 'OK', t0);
        if (failed) call.emit('error', failed);
        else call.end();
      } catch (e: any) {
        const code = e.code ?? grpc.status.INTERNAL;
        logRpc('Read', `client=${r.client_id} ${parts.join('; ')}`, `${codeName(code)} (${e.message})`, t0);
        call.emit('error', rpcError(code, e.message));
      }
    },
  };

  // Port status change notifications: to each client that subscribed for them and enabled the
  // $PORT attribute, for the ports it added to $PORT (switchd's port manager knows only those).
  const watch = o.watchPorts?.((port, up) => {
    if (!portTable) return;
    const keyId = portTable.key[0]?.id ?? 1;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(port);
    const added = [...(tables.state.get(portTable.id)?.values() ?? [])].some((e) => e.key.get(keyId)?.equals(value));
    for (const [client, on] of tables.portNotify) {
      const s = streams.get(client);
      if (!on || !s || !added) continue;
      s.write({
        port_status_change_notification: {
          table_entry: { table_id: portTable.id, key: { fields: [{ field_id: keyId, exact: { value } }] } },
          port_up: up,
        },
      });
      o.log(`[rpc] StreamChannel port_status_change_notification client=${client} port=${port} up=${up}`);
    }
  });

  const server = new grpc.Server();
  server.addService(service, impl);
  return { server, state: () => tables.state, tables: () => tables, boundClient: () => bound, close: () => watch?.close() };
}
