// Benchmark: the vip-mode checkpoint rewrite inside the downtime (issue 14), on a real podman
// checkpoint archive of the stream server image: the former target script (unpack the archive,
// `p4cf-net ckpt-rewrite DIR`, pack it again) against the current one (`p4cf-net ckpt-rewrite
// TAR`, the three members edited where they lie, lib/migration/ckpt-tar.ts). Each run on a fresh
// copy, alternating, as the target script runs it (sh, node started per run), and the rewriter the
// migration starts ahead (`ckpt-rewrite-when`: only its `go` and answer are timed). Prints medians and
// p90 of both and their difference; the former grows with the checkpoint (--state-mb), the current
// one does not. Needs root, podman + CRIU and the image localhost/p4cf-stream-server
// (built by any local run); holds the machine-wide testbed lock. Container p4bc-ckpt, removed at the end.
//   npx tsx bench/ckpt-rewrite.ts [--runs N] [--state-mb MB]
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { percentile } from '../lib/analysis/stats.ts';
import { cliArgs, intIn } from '../lib/run/cli.ts';
import { ensureLocalNetTool } from '../lib/nettool/index.ts';
import { asRootUnderTestbedLock } from './lib/exclusive.ts';

const IMAGE = 'localhost/p4cf-stream-server';
const NAME = 'p4bc-ckpt';
const IP = '10.88.0.250';
const MAC = '02:42:0a:58:00:fa';
const NEW = ['10.88.0.251', '02:42:0a:58:00:fb'];
const _root = resolve(import.meta.dirname, '..');

const { values: args } = cliArgs({
  command: 'npx tsx bench/ckpt-rewrite.ts',
  options: {
    runs: { type: 'string', arg: 'N', default: '10', parse: intIn(1, 100), help: 'runs of each method (default 10)' },
    'state-mb': {
      type: 'string',
      arg: 'MB',
      default: '0',
      parse: intIn(0, 4096),
      help: "the stream server's STATE_MB (checkpoint size; default 0: about 8 MB)",
    },
  },
});

asRootUnderTestbedLock('bench/ckpt-rewrite.ts', 'podman, CRIU');
if (spawnSync('podman', ['image', 'exists', IMAGE]).status !== 0) {
  console.log(`bench/ckpt-rewrite.ts: skipped, no image ${IMAGE} (a local run builds it: npx tsx experiments/run.ts)`);
  process.exit(0);
}

const tool = await ensureLocalNetTool();
const dir = mkdtempSync(join(tmpdir(), 'p4bc-'));
const podman = (...a: string[]) => execFileSync('podman', a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
try {
  podman('rm', '-f', NAME);
  podman(
    'run',
    '-d',
    '--name',
    NAME,
    '--ip',
    IP,
    '--mac-address',
    MAC,
    IMAGE,
    '--port',
    '8080',
    '--metrics-port',
    '8081',
    ...(args['state-mb'] ? ['--state-mb', String(args['state-mb'])] : []),
  );
  // the state is allocated at start: give it a moment to be touched before the dump
  if (args['state-mb']) await new Promise((r) => setTimeout(r, 2000 + args['state-mb'] * 5));
  const tar = join(dir, 'checkpoint.tar');
  podman('container', 'checkpoint', '--export', tar, '--compress', 'none', NAME);
  console.log(`checkpoint of ${IMAGE}: ${(statSync(tar).size / 1e6).toFixed(1)} MB`);
  const args5 = `${IP} ${NEW[0]} ${MAC} ${NEW[1]}`;
  const work = join(dir, 'work.tar');
  const go = join(dir, 'go');
  const done = join(dir, 'done');
  // setup (not timed: on the target it runs while the source checkpoints), then what the downtime holds
  const methods: Record<string, { setup?: string; script: string }> = {
    'unpack + rewrite + pack': {
      script: `d=$(mktemp -d) && tar -xpf ${work} -C "$d" && node ${tool} ckpt-rewrite "$d" ${args5} >/dev/null && (cd "$d" && tar --numeric-owner -cf ${work} $(ls -A)) && rm -rf "$d"`,
    },
    'rewrite in the archive': { script: `node ${tool} ckpt-rewrite ${work} ${args5} >/dev/null` },
    'rewriter started ahead': {
      setup: `rm -f ${go} ${done} && mkfifo ${go} ${done} && (setsid timeout 60 node ${tool} ckpt-rewrite-when ${go} ${done} ${work} ${args5} >/dev/null 2>&1 </dev/null &) && sleep 1.5`,
      script: `echo go > ${go} && cat ${done} >/dev/null`,
    },
  };
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(methods).map((k) => [k, []]));
  for (let i = 0; i < args.runs; i++)
    for (const [k, { setup, script }] of Object.entries(methods)) {
      copyFileSync(tar, work);
      execFileSync('sync');
      if (setup) execFileSync('sh', ['-c', setup]);
      const t0 = process.hrtime.bigint();
      execFileSync('sh', ['-c', script]);
      ms[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
      const conf = execFileSync('tar', ['-xOf', work, 'config.dump'], { encoding: 'utf8' });
      if (!conf.includes(NEW[0]) || conf.includes(`"${IP}"`)) throw new Error(`${k}: config.dump was not rewritten`);
    }
  const p = (xs: number[], q: number) => percentile(xs, q)?.toFixed(1) ?? '–';
  console.log(`runs: ${args.runs} each (alternating, fresh copy, node started per run as on the target)`);
  for (const [k, xs] of Object.entries(ms)) console.log(`${k.padEnd(24)} p50 ${p(xs, 0.5)} ms  p90 ${p(xs, 0.9)} ms`);
  const [a, b, c] = Object.values(ms).map((xs) => percentile(xs, 0.5) ?? 0);
  console.log(
    `saved inside the downtime (p50): ${(a - b).toFixed(1)} ms in the archive, ${(a - c).toFixed(1)} ms with the rewriter started ahead`,
  );
} finally {
  spawnSync('podman', ['rm', '-f', NAME], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
