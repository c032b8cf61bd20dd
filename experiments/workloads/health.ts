// The gate every phase uses to know a workload's server answers (its HealthCheck): an HTTP 200
// through lib/run/health.ts, or a command on the host that exits 0.
import { waitForHttp, waitUntil, type GateOpts, type ToolOpts } from '../../lib/run/health.ts';
import type { Host } from '../../lib/hosts/types.ts';
import type { HealthCheck } from './types.ts';

export function waitForHealth(host: Host, check: HealthCheck, o: GateOpts & ToolOpts = {}): Promise<void> {
  if (check.kind === 'http') return waitForHttp(host, check.url, o);
  return waitUntil(
    host,
    check.what,
    async () => {
      const r = await host.exec(check.cmd, { quiet: true, allowFail: true, timeoutMs: 6000 });
      return { ok: r.code === 0, state: r.stdout.trim() || r.stderr.trim().split('\n').pop() || `exit ${r.code}` };
    },
    o,
  );
}
