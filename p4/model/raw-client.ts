// A bare BF Runtime client over the project's .proto (no controller logic) and a launcher for
// the model daemon: used by the model's tests and handy for poking a running switchd.
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
export interface ModelProcess { child: ChildProcess; port: number; logs: string[]; stop(): Promise<void> }

/** Starts the model (optionally inside a network namespace) and waits for its ready line. */
export function startModel(args: string[], opts: { netns?: string; timeoutMs?: number } = {}): Promise<ModelProcess> {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const tsx = join(repo, 'node_modules', '.bin', 'tsx');
  const main = join(repo, 'p4', 'model', 'main.ts');
  const cmd = opts.netns ? 'nsenter' : tsx;
  const argv = opts.netns ? [`--net=/run/netns/${opts.netns}`, tsx, main, ...args] : [main, ...args];
  const child = spawn(cmd, argv, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const stop = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`model did not print its ready line in time; log:\n${logs.join('\n')}`)); }, opts.timeoutMs ?? 30_000);
    const onLine = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        logs.push(line);
        const m = /BF_RT gRPC server ready port (\d+)/.exec(line);
        if (m) { clearTimeout(timer); resolve({ child, port: Number(m[1]), logs, stop }); }
      }
    };
    child.stdout!.on('data', onLine);
    child.stderr!.on('data', onLine);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`model exited with ${code} before ready; log:\n${logs.join('\n')}`)); });
  });
}
