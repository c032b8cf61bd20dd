// Latency of trivial commands: one persistent node-ssh connection (lib/hosts/ssh.ts) against spawning
// `ssh` per command, with and without ControlMaster, on a throwaway sshd on 127.0.0.1.
// Baseline: plain `ssh` per command, as the bash scripts did. Goal: persistent ≥ 5× faster.
import { spawnSync } from 'node:child_process';
import { createSshHost } from '../lib/hosts/ssh.ts';
import { describe } from '../lib/analysis/stats.ts';
import { startSshd } from '../test/helpers/sshd.ts';

const N = Number(process.env.P4CA_BENCH_N ?? 200);

function stats(ms: number[]) {
  const d = describe(ms);
  return { p50: d.p50!, p95: d.p95! };
}

async function time(n: number, fn: () => Promise<void> | void): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

const d = await startSshd();
try {
  const host = createSshHost({
    name: 'bench',
    target: { user: d.user, host: '127.0.0.1', port: d.port },
    privateKeyPath: d.keyPath,
    knownHostsPath: d.knownHostsPath,
  });
  await host.exec('true', { quiet: true }); // connect outside the measurement
  const persistent = await time(N, async () => {
    await host.exec('true', { quiet: true });
  });
  await host.close();

  const base = [
    '-i',
    d.keyPath,
    '-p',
    String(d.port),
    '-o',
    `UserKnownHostsFile=${d.knownHostsPath}`,
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
  ];
  const ssh = (extra: string[]) => {
    const r = spawnSync('ssh', [...base, ...extra, `${d.user}@127.0.0.1`, 'true'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh exited ${r.status}: ${r.stderr.trim()}`);
  };
  const plain = await time(N, () => ssh([]));
  const cm = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${d.dir}/cm-%C`, '-o', 'ControlPersist=60'];
  ssh(cm); // open the master outside the measurement
  const master = await time(N, () => ssh(cm));
  spawnSync('ssh', [...base, ...cm, '-O', 'exit', `${d.user}@127.0.0.1`], { stdio: 'ignore' });

  const p = stats(persistent);
  const s = stats(plain);
  const m = stats(master);
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`${N} sequential \`true\` commands on 127.0.0.1 (ms per command)`);
  console.log(`                               p50      p95`);
  console.log(`ssh per command (baseline) ${f(s.p50)}  ${f(s.p95)}`);
  console.log(`ssh + ControlMaster        ${f(m.p50)}  ${f(m.p95)}`);
  console.log(`node-ssh persistent        ${f(p.p50)}  ${f(p.p95)}`);
  console.log(
    `speed-up p50: persistent vs plain ssh ${(s.p50 / p.p50).toFixed(1)}× (goal ≥ 5×), vs ControlMaster ${(m.p50 / p.p50).toFixed(1)}×`,
  );
  console.log(
    `speed-up p95: persistent vs plain ssh ${(s.p95 / p.p95).toFixed(1)}×, vs ControlMaster ${(m.p95 / p.p95).toFixed(1)}×`,
  );
} finally {
  await d.stop();
}
