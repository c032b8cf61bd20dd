// Controller entry: `npx tsx controller/main.ts --config FILE [--listen ADDR] [--port N]
// [--token-file FILE] [--grpc ADDR] [--arch tf1|tf2]`. Bundled to dist/remote/controller.mjs for the switch.
// The token comes from a file or CONTROLLER_TOKEN, never from argv (argv shows in `ps`).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { programForArch } from '../p4/assets.ts';
import { loadControllerConfig, type Arch } from './config.ts';
import { startController } from './server.ts';

const USAGE = 'usage: controller/main.ts --config FILE [--listen ADDR] [--port N] [--token-file FILE] [--grpc HOST:PORT] [--arch tf1|tf2]';

function die(msg: string): never {
  console.error(`controller: ${msg}\n${USAGE}`);
  process.exit(2);
}

async function main() {
  let args;
  try {
    args = parseArgs({ options: {
      config: { type: 'string' }, listen: { type: 'string' }, port: { type: 'string' },
      'token-file': { type: 'string' }, grpc: { type: 'string' }, arch: { type: 'string' }, help: { type: 'boolean' },
    } }).values;
  } catch (e) { die((e as Error).message); }
  if (args.help) { console.log(USAGE); return; }
  if (!args.config) die('--config FILE is required');
  for (const [what, v] of [['--arch', args.arch], ['ARCH', process.env.ARCH]] as const) {
    if (v !== undefined && v !== 'tf1' && v !== 'tf2') die(`${what} must be tf1 or tf2, got ${JSON.stringify(v)}`);
  }
  const port = args.port === undefined ? 5000 : Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) die(`--port must be 0..65535, got ${JSON.stringify(args.port)}`);
  const listen = args.listen ?? '127.0.0.1';
  if (!/^[\d.]+$|:/.test(listen)) die(`--listen must be an IP address, got ${JSON.stringify(listen)}`);

  let token = process.env.CONTROLLER_TOKEN ?? '';
  if (args['token-file']) {
    try { token = readFileSync(args['token-file'], 'utf8').trim(); } catch (e) { die(`--token-file: ${(e as Error).message}`); }
  }
  if (/\s/.test(token)) die('the token must not contain whitespace');

  let config;
  try { config = loadControllerConfig(args.config, {
    program: args.arch ? programForArch(args.arch as Arch) : undefined, arch: process.env.ARCH as Arch | undefined, addr: args.grpc,
  }); } catch (e) { die((e as Error).message); }

  const ctl = await startController({ config, listen, port, token: token || undefined, defaultMetrics: true });
  const stop = async (sig: string) => {
    console.log(`${new Date().toISOString()} [controller] ${sig}: shutting down`);
    await ctl.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((e) => {
  console.error(`controller: ${(e as Error).message}`);
  process.exit(1);
});
