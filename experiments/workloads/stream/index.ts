// The stream workload (default): the bundled WebSocket stream server in an image built from the
// host's node, the WebSocket load generator, metrics.csv as the original collector wrote it, and
// quiesce = SIGUSR2 (the server pauses frames and echoes so the send queues drain).
import { join } from 'node:path';
import type { Workload } from '../types.ts';
import { serviceIp } from '../../../lib/server/backend.ts';
import { buildRow } from '../../workload/collector.ts';
import { CSV_COLUMNS } from '../../workload/columns.ts';
import { loadgenArgs, serverArgs } from '../../workload/commands.ts';
import { ensureServerImage } from '../../workload/image.ts';
import { columnLast } from '../figures.ts';

export const stream: Workload = {
  name: 'stream',
  description: 'WebSocket stream server (frames at LOADGEN_FPS, pings echoed) and its load generator',
  image: (c) => c.SERVER_IMAGE,
  bundles: ['stream-server.mjs', 'loadgen.mjs'],
  ensureImage: (host, image, o) =>
    ensureServerImage(host, {
      image,
      bundleFile: join(o.dist, 'stream-server.mjs'),
      workDir: o.workDir,
      log: o.log,
      dryRun: o.dryRun,
    }),
  serverArgs,
  health: (c) => ({ kind: 'http', url: `http://${serviceIp(c)}:${c.SIGNALING_PORT}/health` }),
  client: {
    bundle: 'loadgen.mjs',
    args: loadgenArgs,
    connectedMetric: 'loadgen_connected_clients',
    describe: (c) => `ws://${serviceIp(c)}:${c.SIGNALING_PORT}/ (${c.LOADGEN_CONNECTIONS} connections)`,
  },
  serverMetrics: true,
  collectorArgs: [],
  columns: CSV_COLUMNS,
  row: buildRow,
  quiesceSignal: 'USR2',
  progressColumn: 'frames_received',
  figures: (rows) => [
    { key: 'frames_lost', label: 'frames lost', value: columnLast(rows, 'frames_lost') },
    { key: 'connection_drops', label: 'connection drops', value: columnLast(rows, 'connection_drops') },
  ],
  lossless(f) {
    const lost = f.find((x) => x.key === 'frames_lost')?.value ?? null;
    const drops = f.find((x) => x.key === 'connection_drops')?.value ?? null;
    if (lost === null || drops === null) return { ok: null, why: 'frames_lost / connection_drops not measured' };
    return { ok: lost === 0 && drops === 0, why: `${lost} frames lost, ${drops} connection drops` };
  },
};
