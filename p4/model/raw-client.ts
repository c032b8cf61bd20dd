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
  subscribe(deviceId?: number): Promise<{ status: { code: number; message: string } }>;
  bind(program: string): Promise<unknown>;
  getConfig(): Promise<any>;
  write(program: string, updates: { type: string; entry: object }[]): Promise<unknown>;
  read(program: string, entry: object): Promise<any[]>;
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
  return {
    stub, clientId,
    subscribe(deviceId = 0) {
      stream = stub.StreamChannel();
      const s = stream!;
      s.on('error', () => { /* cancelled on close */ });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no Subscribe answer from ${address} in 5 s`)), 5000);
        s.once('data', (m: any) => { clearTimeout(timer); resolve(m.subscribe); });
        s.write({ client_id: clientId, subscribe: { is_master: true, device_id: deviceId, notifications: {} } });
      });
    },
    bind: (program) => call((cb) => stub.SetForwardingPipelineConfig({ device_id: 0, client_id: clientId, action: 'BIND', config: [{ p4_name: program }] }, cb)),
    getConfig: () => call((cb) => stub.GetForwardingPipelineConfig({ device_id: 0, client_id: clientId }, cb)),
    write: (program, updates) => call((cb) => stub.Write({
      target, client_id: clientId, p4_name: program, atomicity: 'CONTINUE_ON_ERROR',
      updates: updates.map((u) => ({ type: u.type, entity: { table_entry: u.entry } })),
    }, cb)),
    read: (program, entry) => new Promise((resolve, reject) => {
      const out: any[] = [];
      const s = stub.Read({ target, client_id: clientId, p4_name: program, entities: [{ table_entry: entry }] });
      s.on('data', (r: any) => out.push(...r.entities.map((e: any) => e.table_entry)));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    }),
    closeStream() { stream?.cancel(); stream = undefined; },
    close() { stream?.cancel(); stream = undefined; stub.close(); },
  };
}

// ---- encoders for the wire shapes --------------------------------------------------------
export const ipBytes = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));
export const macBytes = (mac: string): Buffer => Buffer.from(mac.split(':').map((x) => parseInt(x, 16)));
export const uintBytes = (n: number, bytes: number): Buffer => { const b = Buffer.alloc(bytes); b.writeUIntBE(n, 0, bytes); return b; };

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
  const args = ['--import', 'tsx', join(repo, 'p4', 'model', 'main.ts'), '--listen', o.listen, '--program', o.program ?? 'tna_load_balancer',
    ...(o.names ? ['--names', o.names] : []), ...(o.ports ?? []).flatMap(([p, i]) => ['--port', `${p}=${i}`]),
    ...(o.dry ? ['--dry-dataplane'] : []), ...(o.nftTable ? ['--nft-table', o.nftTable] : [])];
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
      reject(new Error(`switch model (${o.listen}) did not print its ready line within ${o.readyMs ?? 30_000} ms; log:\n${logs.join('\n')}`));
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
