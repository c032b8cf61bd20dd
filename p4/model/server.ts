// The BfRuntime gRPC service of the switch model: subscription and binding as bf_switchd does
// them, Write/Read on the table state, and every committed Write applied to the data plane.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Schema } from './schema.ts';
import { type State, type WireTableEntry, applyUpdate, copyState, emptyState, encodeEntry, keyUint, modelError, readEntries } from './tables.ts';
import type { Dataplane } from './dataplane.ts';
import { checkPortKnown } from './dataplane.ts';
import { serviceError } from './status.ts';

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
}

export interface Model { server: grpc.Server; state(): State; boundClient(): number | undefined }

export function createModel(o: ModelOpts): Model {
  const pkgDef = protoLoader.loadSync(o.protoPath, LOADER_OPTS);
  const proto = grpc.loadPackageDefinition(pkgDef) as any;
  const service = proto.bfrt_proto.BfRuntime.service as grpc.ServiceDefinition;

  let state = emptyState(o.schema);
  const streams = new Map<number, grpc.ServerDuplexStream<any, any>>();
  let bound: number | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const portTable = o.schema.tables.find((t) => t.table_type === 'PortConfigure');

  const ms = (t0: bigint) => `${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)}ms`;
  const logRpc = (method: string, detail: string, result: string, t0: bigint) =>
    o.log(`[rpc] ${method} ${detail} result=${result} latency=${ms(t0)}`);
  const codeName = (c: number) => grpc.status[c] ?? String(c);

  const checkDevice = (id: number | undefined) => {
    if ((id ?? 0) !== o.deviceId) throw modelError(grpc.status.INVALID_ARGUMENT, `device ${id} does not exist (this switch has device ${o.deviceId})`);
  };
  const checkP4Name = (name: string | undefined) => {
    if (name && name !== o.program) throw modelError(grpc.status.INVALID_ARGUMENT, `program ${JSON.stringify(name)} is not loaded (this switch runs ${o.program})`);
  };

  function release(clientId: number, call: grpc.ServerDuplexStream<any, any>, why: string) {
    if (streams.get(clientId) !== call) return;
    streams.delete(clientId);
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
          call.write({ subscribe: { ...msg.subscribe, status: { code: grpc.status.INVALID_ARGUMENT, message: `device ${msg.subscribe?.device_id} does not exist`, details: [] } } });
          logRpc('StreamChannel.Subscribe', `client=${id}`, 'INVALID_ARGUMENT', t0);
          return;
        }
        clientId = id;
        streams.set(id, call);
        call.write({ subscribe: { ...msg.subscribe, status: { code: 0, message: 'Subscribe successful', details: [] } } });
        logRpc('StreamChannel.Subscribe', `client=${id} device=${o.deviceId}`, 'OK', t0);
      });
      const done = (why: string) => { if (clientId !== undefined) release(clientId, call, why); };
      call.on('end', () => { done('closed its stream'); call.end(); });
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
          throw modelError(grpc.status.UNIMPLEMENTED, `action ${r.action} is not supported by the model (BIND, VERIFY, VERIFY_AND_WARM_INIT_BEGIN_AND_END)`);
        }
        if (!streams.has(id)) throw modelError(grpc.status.FAILED_PRECONDITION, `client ${id} has not subscribed on a StreamChannel`);
        if (bound !== undefined && bound !== id) {
          throw modelError(grpc.status.ALREADY_EXISTS, `program ${o.program} is already bound to client ${bound}; only one client may bind at a time`);
        }
        bound = id;
        logRpc('SetForwardingPipelineConfig', `client=${id} action=${r.action} program=${o.program}`, 'OK', t0);
        cb(null, { set_forwarding_pipeline_config_response_type: 'WARM_INIT_FINISHED' });
      } catch (e: any) {
        logRpc('SetForwardingPipelineConfig', `client=${id} action=${r.action}`, `${codeName(e.code)} (${e.message})`, t0);
        cb(serviceError(e.code ?? grpc.status.INTERNAL, e.message));
      }
    },

    GetForwardingPipelineConfig(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const t0 = process.hrtime.bigint();
      try {
        checkDevice(call.request.device_id);
        cb(null, {
          config: [{
            p4_name: o.program, bfruntime_info: Buffer.from(o.programJson),
            profiles: [{ profile_name: 'pipe', context: Buffer.from('{}'), binary: Buffer.alloc(0), pipe_scope: [0, 1, 2, 3] }],
          }],
          non_p4_config: { bfruntime_info: Buffer.from(o.nonP4Json) },
        });
        logRpc('GetForwardingPipelineConfig', `client=${call.request.client_id}`, 'OK', t0);
      } catch (e: any) {
        logRpc('GetForwardingPipelineConfig', `client=${call.request.client_id}`, codeName(e.code), t0);
        cb(serviceError(e.code ?? grpc.status.INTERNAL, e.message));
      }
    },

    Write(call: grpc.ServerUnaryCall<any, any>, cb: grpc.sendUnaryData<any>) {
      const t0 = process.hrtime.bigint();
      const r = call.request;
      const id = Number(r.client_id);
      const ops: string[] = [];
      // Writes are serialized: each one sees the state the previous one committed to the kernel.
      queue = queue.then(async () => {
        try {
          checkDevice(r.target?.device_id);
          if (bound !== id) {
            throw modelError(grpc.status.FAILED_PRECONDITION, bound === undefined
              ? `client ${id} is not bound to a program; bind with SetForwardingPipelineConfig first`
              : `client ${id} is not bound; program ${o.program} is bound to client ${bound}`);
          }
          checkP4Name(r.p4_name);
          const draft = copyState(state);
          for (const u of r.updates ?? []) {
            const entry = u.entity?.table_entry as WireTableEntry | undefined;
            if (u.entity?.entity !== 'table_entry' || !entry) throw modelError(grpc.status.UNIMPLEMENTED, 'only table_entry entities can be written');
            const { table, key } = applyUpdate(o.schema, draft, u.type, entry);
            ops.push(`${u.type} table=${table.name} key=${key}`);
            if (table === portTable) {
              for (const e of draft.get(table.id)!.values()) {
                const bad = checkPortKnown(o.ports, keyUint(e.key));
                if (bad) throw modelError(grpc.status.INVALID_ARGUMENT, `table ${table.name}: ${bad}`);
              }
            }
          }
          try {
            const { warnings } = await o.dataplane.apply(draft);
            for (const w of warnings) o.log(`[dataplane] warning: ${w}`);
          } catch (e: any) {
            throw modelError(grpc.status.INTERNAL, `data plane refused the update, tables unchanged: ${e.message}`);
          }
          state = draft;
          logRpc('Write', `client=${id} ${ops.join('; ')}`, 'OK', t0);
          cb(null, { status: [] });
        } catch (e: any) {
          const code = e.code ?? grpc.status.INTERNAL;
          logRpc('Write', `client=${id} ${ops.concat(['(failed update)']).join('; ')}`, `${codeName(code)} (${e.message})`, t0);
          cb(serviceError(code, e.message));
        }
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
        for (const ent of r.entities ?? []) {
          if (ent.entity !== 'table_entry') throw modelError(grpc.status.UNIMPLEMENTED, 'only table_entry entities can be read');
          const { table, entries } = readEntries(o.schema, state, ent.table_entry);
          parts.push(`table=${table.name} entries=${entries.length}`);
          for (const e of entries) entities.push({ table_entry: encodeEntry(table, e) });
        }
        call.write({ entities, status: [] });
        call.end();
        logRpc('Read', `client=${r.client_id} ${parts.join('; ')}`, 'OK', t0);
      } catch (e: any) {
        const code = e.code ?? grpc.status.INTERNAL;
        logRpc('Read', `client=${r.client_id} ${parts.join('; ')}`, `${codeName(code)} (${e.message})`, t0);
        call.emit('error', serviceError(code, e.message));
      }
    },
  };

  const server = new grpc.Server();
  server.addService(service, impl);
  return { server, state: () => state, boundClient: () => bound };
}
