// Controller entry: `npx tsx controller/main.ts --config FILE [--listen ADDR] [--port N]
// [--token-file FILE] [--grpc ADDR] [--arch tf1|tf2]`. Bundled to dist/remote/controller.mjs for the switch.
// The token comes from a file or CONTROLLER_TOKEN, never from argv (argv shows in `ps`).
import { readFileSync } from 'node:fs';
import { programForArch } from '../p4/assets.ts';
import { loadControllerConfig, type Arch } from './config.ts';
import { startController } from './server.ts';
import { cliArgs, cliExit, type CliSpec } from '../lib/run/cli.ts';

const CLI = {
  command: 'npx tsx controller/main.ts',
  summary:
    'The load balancer controller: an HTTP API that programs the switch over BF Runtime gRPC.\nThe token comes from --token-file or CONTROLLER_TOKEN, never from argv (argv shows in `ps`).',
  options: {
    config: { type: 'string', arg: 'FILE', required: true, help: 'controller configuration (JSON)' },
    listen: { type: 'string', arg: 'ADDR', help: 'HTTP listen address (default 127.0.0.1)' },
    port: { type: 'string', arg: 'N', help: 'HTTP port (default 5000)' },
    'token-file': { type: 'string', arg: 'FILE', help: 'file holding the bearer token' },
    grpc: { type: 'string', arg: 'HOST:PORT', help: 'BF Runtime gRPC address of the switch' },
    arch: { type: 'string', arg: 'tf1|tf2', help: 'Tofino generation (default from the config or ARCH)' },
  },
} as const satisfies CliSpec;

function die(msg: string): never {
  cliExit(msg, CLI);
}

async function main() {
  const args = cliArgs(CLI).values;
  for (const [what, v] of [
    ['--arch', args.arch],
    ['ARCH', process.env.ARCH],
  ] as const) {
    if (v !== undefined && v !== 'tf1' && v !== 'tf2') die(`${what} must be tf1 or tf2, got ${JSON.stringify(v)}`);
  }
  const port = args.port === undefined ? 5000 : Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) die(`--port must be 0..65535, got ${JSON.stringify(args.port)}`);
  const listen = args.listen ?? '127.0.0.1';
  if (!/^[\d.]+$|:/.test(listen)) die(`--listen must be an IP address, got ${JSON.stringify(listen)}`);

  let token = process.env.CONTROLLER_TOKEN ?? '';
  if (args['token-file']) {
    try {
      token = readFileSync(args['token-file'], 'utf8').trim();
    } catch (e) {
      die(`--token-file: ${(e as Error).message}`);
    }
  }
  if (/\s/.test(token)) die('the token must not contain whitespace');

  let config: ReturnType<typeof loadControllerConfig>;
  try {
    config = loadControllerConfig(args.config, {
      program: args.arch ? programForArch(args.arch as Arch) : undefined,
      arch: process.env.ARCH as Arch | undefined,
      addr: args.grpc,
    });
  } catch (e) {
    die((e as Error).message);
  }

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
