// Switch model daemon: serves BF Runtime gRPC like bf_switchd and moves real packets between
// the port interfaces with an nftables netdev data plane.
//   npx tsx p4/model/main.ts --listen 127.0.0.1:50052 --program tna_load_balancer \
//     --port 140=p4cf-p140 --port 148=p4cf-p148 [--names pipe|plain] [--dry-dataplane]
// Runs inside the switch's network namespace; bundled into dist/remote/ for remote hosts.
import * as grpc from '@grpc/grpc-js';
import { bfrtJsonPath, protoPath } from '../assets.ts';
import { type NameMode, loadText, parseSchema, renameSchemaText } from './schema.ts';
import { createDataplane } from './dataplane.ts';
import { MODEL_NFT_TABLE } from './nft.ts';
import { createModel } from './server.ts';
import { watchPorts } from './port-watch.ts';
import { cliArgs, cliExit, intIn, type CliSpec } from '../../lib/run/cli.ts';

/** Text → value, or an Error saying what is expected (lib/run/cli.ts prefixes the flag and the text). */
const matching =
  (re: RegExp, expected: string) =>
  (v: string): string => {
    if (!re.test(v)) throw new Error(expected);
    return v;
  };

const CLI = {
  command: 'npx tsx p4/model/main.ts',
  summary: 'Switch model daemon: serves BF Runtime gRPC like bf_switchd; an nftables netdev data plane moves the packets.',
  options: {
    listen: {
      type: 'string',
      arg: 'HOST:PORT',
      default: '127.0.0.1:50052',
      help: 'gRPC address (default 127.0.0.1:50052)',
      parse: matching(/^[\w.:[\]-]+:\d{1,5}$/, 'expected HOST:PORT, e.g. 127.0.0.1:50052'),
    },
    program: {
      type: 'string',
      arg: 'NAME',
      default: 'tna_load_balancer',
      help: 'tna_load_balancer (default) or t2na_load_balancer',
      parse: matching(/^[\w-]+$/, 'expected a program name like tna_load_balancer'),
    },
    port: {
      type: 'string',
      arg: 'DEVPORT=IFNAME',
      multiple: true,
      help: 'a switch port and its interface (repeatable)',
      parse: (v: string): [number, string] => {
        const m = /^(\d{1,3})=([A-Za-z0-9_.@-]{1,15})$/.exec(v);
        if (!m || Number(m[1]) > 511)
          throw new Error(
            'expected DEVPORT=IFNAME with DEVPORT 0-511 and an interface name of 1-15 characters, e.g. 140=p4cf-p140',
          );
        return [Number(m[1]), m[2]];
      },
    },
    names: {
      type: 'string',
      arg: 'pipe|plain',
      default: 'pipe',
      help: 'table names as pipe.SwitchIngress.forward (default) or SwitchIngress.forward',
      parse: (v: string): NameMode => {
        if (v !== 'pipe' && v !== 'plain')
          throw new Error('expected pipe (pipe.SwitchIngress.forward) or plain (SwitchIngress.forward)');
        return v;
      },
    },
    'dry-dataplane': { type: 'boolean', help: 'keep the tables, apply nothing to nftables' },
    'nft-table': {
      type: 'string',
      arg: 'NAME',
      default: MODEL_NFT_TABLE,
      help: `nftables table name (default ${MODEL_NFT_TABLE})`,
      parse: matching(/^[A-Za-z][\w]{0,30}$/, 'expected an identifier'),
    },
    'device-id': {
      type: 'string',
      arg: 'N',
      default: '0',
      help: 'BF Runtime device id (default 0)',
      parse: intIn(0, 2 ** 31 - 1),
    },
  },
} as const satisfies CliSpec;

function parseArgs(argv: string[]) {
  const { values: v } = cliArgs(CLI, argv);
  const ports = new Map<number, string>();
  for (const [p, i] of v.port) {
    if (ports.has(p)) cliExit(`--port ${p}=${i}: dev port ${p} given twice`, CLI);
    ports.set(p, i);
  }
  return {
    listen: v.listen,
    program: v.program,
    ports,
    names: v.names,
    dry: v['dry-dataplane'],
    nftTable: v['nft-table'],
    deviceId: v['device-id'],
  };
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
  log(
    `[dataplane] ${args.dry ? 'dry (tables only, nothing applied)' : `nftables table netdev ${args.nftTable} on ${[...args.ports].map(([p, i]) => `${p}=${i}`).join(', ') || 'no ports'}`}`,
  );

  const model = createModel({
    protoPath: protoPath(),
    program: args.program,
    schema,
    programJson,
    nonP4Json,
    ports: args.ports,
    dataplane,
    deviceId: args.deviceId,
    log,
    watchPorts: args.dry || args.ports.size === 0 ? undefined : (onChange) => watchPorts(args.ports, onChange, log),
  });
  const port = await new Promise<number>((resolve, reject) =>
    model.server.bindAsync(args.listen, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`cannot listen on ${args.listen}: ${err.message}`)) : resolve(p),
    ),
  );
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
