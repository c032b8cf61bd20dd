// The local testbed's switch daemon: the switch model (dist/remote/switch-model.mjs) in the tofino
// namespace, its ports mapped to the testbed's veths. Run-scoped: restarting it costs about 1 s.
import { programForArch } from '../../../p4/assets.ts';
import { sh } from '../../hosts/quote.ts';
import type { SwitchDaemon, SwitchDaemonContext } from '../switch-daemon.ts';
import { switchPortIfaces } from './testbed.ts';

const MODEL_NAME = 'switch-model';

export function localSwitchDaemon({ config: c, dir }: SwitchDaemonContext): SwitchDaemon {
  const ports = Object.entries(switchPortIfaces(c)).flatMap(([dev, ifname]) => ['--port', `${dev}=${ifname}`]);
  return {
    name: MODEL_NAME,
    command: sh`exec node ${`${dir}/switch-model.mjs`} --listen ${c.BFRT_GRPC_ADDR} --program ${programForArch(c.ARCH)} ${ports}`,
    bundle: 'switch-model.mjs',
    outlivesRun: false,
    readyTimeoutMs: 30_000,
    readyIntervalMs: 200,
    // the testbed phase made the namespace and its veths; the model checks its own arguments
    startProblems: async () => [],
    // the testbed's switch namespace holds nothing this project did not put there
    foreign: async () => [],
  };
}
