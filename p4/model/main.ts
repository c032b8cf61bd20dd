// Switch model daemon: serves BF Runtime gRPC like bf_switchd and moves real packets between
// the port interfaces with an nftables netdev data plane.
//   npx tsx p4/model/main.ts --listen 127.0.0.1:50052 --program tna_load_balancer \
//     --port 140=p4cf-p140 --port 148=p4cf-p148 [--names pipe|plain] [--dry-dataplane]
// Runs inside the switch's network namespace; bundled into dist/remote/ for remote hosts.
import * as grpc from '@grpc/grpc-js';
import { bfrtJsonPath, protoPath } from '../assets.ts';
import { type NameMode, loadText, parseSchema, renameSchemaText } from './schema.ts';
import { createDataplane } from './dataplane.ts';
import { createModel } from './server.ts';
import { watchPorts } from './port-watch.ts';

interface Args {
  listen: string; program: string; ports: Map<number, string>; names: NameMode;
  dry: boolean; nftTable: string; deviceId: number;
}

const USAGE = `usage: main.ts [--listen HOST:PORT] [--program tna_load_balancer|t2na_load_balancer]
  [--port DEVPORT=IFNAME ...] [--names pipe|plain] [--dry-dataplane] [--nft-table NAME] [--device-id N]`;

function parseArgs(argv: string[]): Args {
  const a: Args = { listen: '127.0.0.1:50052', program: 'tna_load_balancer', ports: new Map(), names: 'pipe', dry: false, nftTable: 'p4cf_lb', deviceId: 0 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value\n${USAGE}`);
      return v;
    };
    switch (flag) {
      case '--listen': {
        a.listen = val();
        if (!/^[\w.:[\]-]+:\d{1,5}$/.test(a.listen)) throw new Error(`--listen ${a.listen}: expected HOST:PORT, e.g. 127.0.0.1:50052`);
        break;
      }
      case '--program': a.program = val(); if (!/^[\w-]+$/.test(a.program)) throw new Error(`--program ${a.program}: expected a program name like tna_load_balancer`); break;
      case '--port': {
        const v = val();
        const m = /^(\d{1,3})=([A-Za-z0-9_.@-]{1,15})$/.exec(v);
        if (!m || Number(m[1]) > 511) throw new Error(`--port ${v}: expected DEVPORT=IFNAME with DEVPORT 0-511 and an interface name of 1-15 characters, e.g. 140=p4cf-p140`);
        if (a.ports.has(Number(m[1]))) throw new Error(`--port ${v}: dev port ${m[1]} given twice`);
        a.ports.set(Number(m[1]), m[2]);
        break;
      }
      case '--names': {
        const v = val();
        if (v !== 'pipe' && v !== 'plain') throw new Error(`--names ${v}: expected pipe (pipe.SwitchIngress.forward) or plain (SwitchIngress.forward)`);
        a.names = v;
        break;
      }
      case '--dry-dataplane': a.dry = true; break;
      case '--nft-table': a.nftTable = val(); if (!/^[A-Za-z][\w]{0,30}$/.test(a.nftTable)) throw new Error(`--nft-table ${a.nftTable}: expected an identifier`); break;
      case '--device-id': a.deviceId = Number(val()); if (!Number.isInteger(a.deviceId) || a.deviceId < 0) throw new Error(`--device-id: expected a non-negative integer`); break;
      case '--help': case '-h': console.log(USAGE); process.exit(0);
      default: throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  const programJson = renameSchemaText(loadText(bfrtJsonPath(args.program)), args.names);
  const nonP4Json = loadText(bfrtJsonPath('non_p4'));
  const schema = parseSchema([programJson, nonP4Json], 'pipe');
  const dataplane = createDataplane({ schema, ports: args.ports, tableName: args.nftTable, dry: args.dry, log });

  // Until a client writes, nothing forwards: as on a freshly loaded pipeline.
  const { warnings } = await dataplane.apply(new Map(schema.tables.map((t) => [t.id, new Map()])));
  for (const w of warnings) log(`[dataplane] warning: ${w}`);
  log(`[dataplane] ${args.dry ? 'dry (tables only, nothing applied)' : `nftables table netdev ${args.nftTable} on ${[...args.ports].map(([p, i]) => `${p}=${i}`).join(', ') || 'no ports'}`}`);

  const model = createModel({
    protoPath: protoPath(), program: args.program, schema, programJson, nonP4Json, ports: args.ports, dataplane, deviceId: args.deviceId, log,
    watchPorts: args.dry || args.ports.size === 0 ? undefined : (onChange) => watchPorts(args.ports, onChange, log),
  });
  const port = await new Promise<number>((resolve, reject) =>
    model.server.bindAsync(args.listen, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen on ${args.listen}: ${err.message}`)) : resolve(p))));
  // The two lines the switchd phase may wait for (the original waited for a log line).
  log(`bf_switchd: server started - listening on port ${port}`);
  log(`BF_RT gRPC server ready port ${port} program ${args.program} names ${args.names}`);

  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`[model] ${sig}: shutting down`);
    model.server.forceShutdown();
    model.close();
    await dataplane.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e) => {
  console.error(`switch model: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
