// Checkpoint transfer over the direct server link. The source serves the file once on its
// direct-link address; the target pulls it (it retries the connect, so no sleep is needed
// between starting the listener and the pull). Two implementations: socat, and a Node stream
// (p4cf-net serve/pull, shipped to every host by the sync phase). TRANSFER_METHOD=auto measures both once per run and keeps
// the faster.
import type { Host } from '../hosts/types.ts';
import { sh } from '../hosts/quote.ts';
import { netTool } from '../nettool/index.ts';

export type TransferMethod = 'socat' | 'node';

export interface TransferSpec {
  source: Host;
  target: Host;
  sourceFile: string;
  targetFile: string;
  bindIp: string; // source's direct-link address
  port: number;
  /** p4cf-net's path on each end (the node method). */
  tools: { source: string; target: string };
  timeoutMs?: number;
}

/** The source's listener: serves `file` once on ip:port. `tool` is p4cf-net's path on the source. */
export function serveCommand(method: TransferMethod, file: string, ip: string, port: number, tool: string): string {
  return method === 'socat'
    ? sh`socat -u ${`OPEN:${file},rdonly`} ${`TCP-LISTEN:${port},bind=${ip},reuseaddr`}`
    : netTool(tool, 'serve', file, ip, port);
}

/**
 * The target's pull (retries the connect while the listener starts). `tool` is p4cf-net's path on
 * the target. `stallMs`: each connect attempt and any stretch without data are bounded by it (a
 * down link ends in seconds, not at the command's timeout); a stalled pull leaves a short file,
 * which the size check reports.
 */
export function pullCommand(
  method: TransferMethod,
  ip: string,
  port: number,
  file: string,
  tool: string,
  stallMs = 5000,
): string {
  const s = Math.max(0.1, stallMs / 1000);
  // connect attempts: refused ones are retried every 20 ms while the listener starts (≈ stallMs in all)
  const retries = Math.max(1, Math.round(stallMs / 20));
  return method === 'socat'
    ? sh`socat -u -T ${s} ${`TCP:${ip}:${port},retry=${retries},interval=0.02,connect-timeout=${s}`} ${`CREATE:${file}`}`
    : netTool(tool, 'pull', ip, port, file, stallMs);
}

async function fileSize(host: Host, path: string): Promise<number> {
  const r = await host.exec(sh`stat -c %s ${path}`, { quiet: true });
  const n = Number(r.stdout.trim());
  if (!Number.isFinite(n)) throw new Error(`[${host.name}] cannot read the size of ${path}: got ${JSON.stringify(r.stdout)}`);
  return n;
}

/** Transfer one file; returns the wall time of the data movement in ms (orchestrator clock). */
async function transferFile(
  spec: TransferSpec,
  method: TransferMethod,
): Promise<{ ms: number; startedNs: bigint; endedNs: bigint }> {
  const timeoutMs = spec.timeoutMs ?? 120_000;
  const startedNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  const t0 = performance.now();
  const serve = spec.source.exec(serveCommand(method, spec.sourceFile, spec.bindIp, spec.port, spec.tools.source), {
    quiet: true,
    timeoutMs,
  });
  const pull = spec.target.exec(pullCommand(method, spec.bindIp, spec.port, spec.targetFile, spec.tools.target), {
    quiet: true,
    timeoutMs,
  });
  // If one side fails, the other would hang until its timeout: report the first failure.
  const results = await Promise.allSettled([serve, pull]);
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (failed) {
    if (results[0].status === 'fulfilled' || results[1].status === 'fulfilled') throw failed.reason;
    throw new Error(
      `checkpoint transfer (${method}) ${spec.source.name} ${spec.bindIp}:${spec.port} → ${spec.target.name} failed: ` +
        results.map((r) => (r as PromiseRejectedResult).reason?.message).join(' | '),
    );
  }
  const ms = performance.now() - t0;
  const endedNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  return { ms, startedNs, endedNs };
}

/** Compare the sizes on both ends; throws naming both sizes. */
async function verifyTransfer(spec: TransferSpec): Promise<number> {
  const [a, b] = await Promise.all([fileSize(spec.source, spec.sourceFile), fileSize(spec.target, spec.targetFile)]);
  if (a !== b) {
    throw new Error(
      `checkpoint transfer incomplete: ${spec.source.name}:${spec.sourceFile} has ${a} bytes, ` +
        `${spec.target.name}:${spec.targetFile} has ${b} bytes (set CR_SKIP_VERIFY=true only to debug)`,
    );
  }
  return b;
}

/**
 * Measure socat against the Node stream with a file of `bytes` random bytes on the same path
 * as the checkpoint will take; returns the faster and both figures.
 */
export async function calibrateTransfer(
  spec: Omit<TransferSpec, 'sourceFile' | 'targetFile'> & { sourceDir: string; targetDir: string; bytes: number },
): Promise<{ method: TransferMethod; socatMs: number; nodeMs: number }> {
  const src = `${spec.sourceDir}/p4cf-calibrate.bin`;
  const dst = `${spec.targetDir}/p4cf-calibrate.bin.recv`;
  await spec.source.exec(sh`mkdir -p ${spec.sourceDir} && head -c ${spec.bytes} /dev/urandom > ${src}`, { quiet: true });
  await spec.target.exec(sh`mkdir -p ${spec.targetDir}`, { quiet: true });
  const t: Record<TransferMethod, number> = { socat: 0, node: 0 };
  try {
    for (const m of ['socat', 'node'] as const) {
      const s = { ...spec, sourceFile: src, targetFile: dst };
      const r = await transferFile(s, m);
      await verifyTransfer(s);
      t[m] = r.ms;
      await spec.target.exec(sh`rm -f ${dst}`, { quiet: true });
    }
  } finally {
    await spec.source.exec(sh`rm -f ${src}`, { quiet: true, allowFail: true });
    await spec.target.exec(sh`rm -f ${dst}`, { quiet: true, allowFail: true });
  }
  return { method: t.socat <= t.node ? 'socat' : 'node', socatMs: t.socat, nodeMs: t.node };
}
