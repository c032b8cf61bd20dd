// A bare BF Runtime client over the project's .proto (no controller logic) and the launcher of
// the model daemon: used by the model's and the controller's tests, bench/switch.ts, and handy for
// poking a running switchd.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { protoPath } from '../assets.ts';
import { LOADER_OPTS } from './server.ts';

export interface RawClient {
  stub: any;
  clientId: number;
  /** Opens the StreamChannel and resolves with the server's Subscribe answer. */
  subscribe(deviceId?: number, notifications?: Record<string, boolean>): Promise<{ status: { code: number; message: string } }>;
  bind(program: string): Promise<unknown>;
  getConfig(): Promise<any>;
  write(
    program: string,
    updates: { type: string; entry: object }[],
    atomicity?: string,
    metadata?: Record<string, string>,
  ): Promise<any>;
  /** The table entries a Read of `entry` returns, without the default entry switchd appends to a whole-table read. */
  read(program: string, entry: object): Promise<any[]>;
  /** Every entity a Read of these entities returns (ReadResponse.entities of all responses). */
  readEntities(program: string, entities: object[], metadata?: Record<string, string>): Promise<any[]>;
  /** Writes arbitrary updates ({type, entity}) as they go on the wire. */
  writeUpdates(program: string, updates: object[], atomicity?: string, metadata?: Record<string, string>): Promise<any>;
  /** The StreamMessageResponses received after the Subscribe answer. */
  streamMessages: any[];
  /** Closes the stream (releases the binding) and the channel. */
  close(): void;
  closeStream(): void;
}

const call = <T>(fn: (cb: (err: grpc.ServiceError | null, r: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((err, r) => (err ? reject(err) : resolve(r))));

export function rawClient(address: string, clientId: number): RawClient {
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTS);
  const proto = grpc.loadPackageDefinition(def) as any;
  const stub = new proto.bfrt_proto.BfRuntime(address, grpc.credentials.createInsecure());
  let stream: grpc.ClientDuplexStream<any, any> | undefined;
  const target = { device_id: 0, pipe_id: 0xffff };
  const streamMessages: any[] = [];
  const md = (m?: Record<string, string>) => {
    const x = new grpc.Metadata();
    for (const [k, v] of Object.entries(m ?? {})) x.set(k, v);
    return x;
  };
  const writeUpdates = (program: string, updates: object[], atomicity = 'CONTINUE_ON_ERROR', metadata?: Record<string, string>) =>
    call((cb) => stub.Write({ target, client_id: clientId, p4_name: program, atomicity, updates }, md(metadata), cb));
  const readEntities = (program: string, entities: object[], metadata?: Record<string, string>) =>
    new Promise<any[]>((resolve, reject) => {
      const out: any[] = [];
      const s = stub.Read({ target, client_id: clientId, p4_name: program, entities }, md(metadata));
      s.on('data', (r: any) => out.push(...r.entities));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
  return {
    stub,
    clientId,
    streamMessages,
    subscribe(deviceId = 0, notifications: Record<string, boolean> = {}) {
      stream = stub.StreamChannel();
      const s = stream!;
      s.on('error', () => {
        /* cancelled on close */
      });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Subscribe answer from ${address} in 5 s`)), 5000);
        let first = true;
        s.on('data', (m: any) => {
          if (!first) return void streamMessages.push(m);
          first = false;
          clearTimeout(timer);
          resolve(m.subscribe);
        });
        s.write({ client_id: clientId, subscribe: { is_master: true, device_id: deviceId, notifications } });
      });
    },
    bind: (program) =>
      call((cb) =>
        stub.SetForwardingPipelineConfig(
          { device_id: 0, client_id: clientId, action: 'BIND', config: [{ p4_name: program }] },
          cb,
        ),
      ),
    getConfig: () => call((cb) => stub.GetForwardingPipelineConfig({ device_id: 0, client_id: clientId }, cb)),
    write: (program, updates, atomicity, metadata) =>
      writeUpdates(
        program,
        updates.map((u) => ({ type: u.type, entity: { table_entry: u.entry } })),
        atomicity,
        metadata,
      ),
    read: async (program, entry) =>
      (await readEntities(program, [{ table_entry: entry }])).map((e) => e.table_entry).filter((e) => e && !e.is_default_entry),
    readEntities,
    writeUpdates,
    closeStream() {
      stream?.cancel();
      stream = undefined;
    },
    close() {
      stream?.cancel();
      stream = undefined;
      stub.close();
    },
  };
}

/** One per-update result from grpc-status-details-bin (canonical_code 0: that update worked). */
export interface UpdateError {
  canonical_code: number;
  message: string;
  space: string;
  code: number;
}

/**
 * The per-update errors of a failed Write/Read, read the way Intel's bfrt_grpc client does
 * (client.py _parse_grpc_error_binary_details): only under status UNKNOWN, a google.rpc.Status
 * in grpc-status-details-bin whose details are Any-packed bfrt_proto.Error. undefined otherwise.
 */
export function updateErrors(err: any): UpdateError[] | undefined {
  if (err?.code !== grpc.status.UNKNOWN) return undefined;
  const bin = err.metadata?.get?.('grpc-status-details-bin')?.[0];
  if (!Buffer.isBuffer(bin)) return undefined;
  const def = protoLoader.loadSync(protoPath(), LOADER_OPTS);
  const st = (def['bfrt_proto.RpcStatus'] as any).deserialize(bin);
  const errType = def['bfrt_proto.Error'] as any;
  return (st.details ?? []).map((a: any) => {
    if (a.type_url !== 'type.googleapis.com/bfrt_proto.Error')
      throw new Error(`status detail of type ${a.type_url}, expected bfrt_proto.Error`);
    return errType.deserialize(a.value) as UpdateError;
  });
}

// ---- encoders for the wire shapes --------------------------------------------------------
export const ipBytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));
export const macBytes = (mac: string): Buffer => Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
export const uintBytes = (n: number, bytes: number): Buffer => {
  const b = Buffer.alloc(bytes);
  b.writeUIntBE(n, 0, bytes);
  return b;
};

/** Resolves names to ids in a served bf-rt.json, as every client must. */
export function resolver(bfrtJson: string) {
  const doc = JSON.parse(bfrtJson);
  const table = (suffix: string) => {
    const t = doc.tables.find((x: any) => x.name === suffix || x.name.endsWith(`.${suffix}`));
    if (!t) throw new Error(`no table ${suffix} in bf-rt.json`);
    return t;
  };
  const keyId = (t: any, name: string) => t.key.find((k: any) => k.name === name).id;
  const action = (t: any, suffix: string) => t.action_specs.find((a: any) => a.name.endsWith(suffix));
  const dataId = (t: any, name: string) => {
    for (const d of t.data) {
      if (d.singleton?.name === name) return d.singleton.id;
      const o = d.oneof?.find((x: any) => x.name === name);
      if (o) return o.id;
    }
    throw new Error(`no data field ${name} in ${t.name}`);
  };
  return { doc, table, keyId, action, dataId };
}

/** TableEntry builders for the load balancer's tables, with the ids of a served bf-rt.json. */
export function lbEntries(r: ReturnType<typeof resolver>) {
  const exact = (t: any, name: string, value: Buffer) => ({
    key: { fields: [{ field_id: r.keyId(t, name), exact: { value } }] },
  });
  const paramId = (a: any, name: string): number => a.data.find((d: any) => d.name === name).id;
  return {
    exact,
    forward(ip: string, port: number, mac?: string) {
      const t = r.table('forward');
      const a = r.action(t, mac ? 'set_egress_port_with_mac' : 'set_egress_port');
      const fields = [{ field_id: paramId(a, 'port'), stream: uintBytes(port, 2) }];
      if (mac) fields.push({ field_id: paramId(a, 'dst_mac'), stream: macBytes(mac) });
      return { table_id: t.id, ...exact(t, 'hdr.ipv4.dst_addr', ipBytes(ip)), data: { action_id: a.id, fields } };
    },
    arp(ip: string, port: number) {
      const t = r.table('arp_forward');
      const a = r.action(t, 'set_egress_port');
      return {
        table_id: t.id,
        ...exact(t, 'hdr.arp.target_proto_addr', ipBytes(ip)),
        data: { action_id: a.id, fields: [{ field_id: paramId(a, 'port'), stream: uintBytes(port, 2) }] },
      };
    },
    member(id: number, dst: string) {
      const t = r.table('action_selector_ap');
      const a = r.action(t, 'set_rewrite_dst');
      return {
        table_id: t.id,
        ...exact(t, '$ACTION_MEMBER_ID', uintBytes(id, 4)),
        data: { action_id: a.id, fields: [{ field_id: paramId(a, 'new_dst'), stream: ipBytes(dst) }] },
      };
    },
    group(id: number, members: number[], active = members.map(() => true)) {
      const t = r.table('action_selector');
      return {
        table_id: t.id,
        ...exact(t, '$SELECTOR_GROUP_ID', uintBytes(id, 4)),
        data: {
          fields: [
            { field_id: r.dataId(t, '$MAX_GROUP_SIZE'), stream: uintBytes(4, 4) },
            { field_id: r.dataId(t, '$ACTION_MEMBER_ID'), int_arr_val: { val: members } },
            { field_id: r.dataId(t, '$ACTION_MEMBER_STATUS'), bool_arr_val: { val: active } },
          ],
        },
      };
    },
    snat(srcPort: number, newSrc: string) {
      const t = r.table('client_snat');
      const a = r.action(t, 'set_rewrite_src');
      return {
        table_id: t.id,
        ...exact(t, 'hdr.tcp.src_port', uintBytes(srcPort, 2)),
        data: { action_id: a.id, fields: [{ field_id: paramId(a, 'new_src'), stream: ipBytes(newSrc) }] },
      };
    },
    /** node_selector: the VIP to a selector group or to one member */
    vip(ip: string, ref: { group?: number; member?: number }) {
      const t = r.table('node_selector');
      const name = ref.group !== undefined ? '$SELECTOR_GROUP_ID' : '$ACTION_MEMBER_ID';
      return {
        table_id: t.id,
        ...exact(t, 'hdr.ipv4.dst_addr', ipBytes(ip)),
        data: { fields: [{ field_id: r.dataId(t, name), stream: uintBytes(ref.group ?? ref.member!, 4) }] },
      };
    },
  };
}

// ---- model process -------------------------------------------------------------------------
export interface ModelOptions {
  /** HOST:PORT; port 0 lets the model pick one (ModelProcess.port/addr tell which) */
  listen: string;
  program?: string;
  /** dev port → interface name in the model's namespace */
  ports?: [number, string][];
  names?: 'pipe' | 'plain';
  /** --dry-dataplane: tables only, no nftables (no root needed) */
  dry?: boolean;
  nftTable?: string;
  /** run inside this network namespace */
  netns?: string;
  readyMs?: number;
}

export interface ModelProcess {
  pid: number;
  port: number;
  /** host:port the model listens on */
  addr: string;
  /** every line it printed so far */
  logs: string[];
  /** Signals the model by its PID and waits for the exit (SIGKILL after 5 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts p4/model/main.ts as `node --import tsx` (under `ip netns exec`, which execs: the PID is
 * the model's own) and resolves once it prints its ready line.
 */
export function startModel(o: ModelOptions): Promise<ModelProcess> {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const args = [
    '--import',
    'tsx',
    join(repo, 'p4', 'model', 'main.ts'),
    '--listen',
    o.listen,
    '--program',
    o.program ?? 'tna_load_balancer',
    ...(o.names ? ['--names', o.names] : []),
    ...(o.ports ?? []).flatMap(([p, i]) => ['--port', `${p}=${i}`]),
    ...(o.dry ? ['--dry-dataplane'] : []),
    ...(o.nftTable ? ['--nft-table', o.nftTable] : []),
  ];
  const [cmd, argv] = o.netns ? ['ip', ['netns', 'exec', o.netns, process.execPath, ...args]] : [process.execPath, args];
  const child: ChildProcess = spawn(cmd, argv, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    if (!child.pid) return reject(new Error(`could not start the switch model: ${cmd}`));
    const pid = child.pid;
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(
        new Error(
          `switch model (${o.listen}) did not print its ready line within ${o.readyMs ?? 30_000} ms; log:\n${logs.join('\n')}`,
        ),
      );
    }, o.readyMs ?? 30_000);
    const lines = (stream: NodeJS.ReadableStream) => {
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const parts = (partial + chunk.toString()).split('\n');
        partial = parts.pop()!;
        for (const line of parts.filter(Boolean)) {
          logs.push(line);
          const m = /BF_RT gRPC server ready port (\d+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            const port = Number(m[1]);
            resolve({ pid, port, addr: o.listen.replace(/:\d+$/, `:${port}`), logs, stop });
          }
        }
      });
    };
    lines(child.stdout!);
    lines(child.stderr!);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`switch model (${o.listen}) exited with ${sig ?? code} before it was ready; log:\n${logs.join('\n')}`));
    });
  });
}
