// Where the switch model and the controller find their data files. They run either from the
// repository (tsx) or as a bundle synced to a remote host (dist/remote/*.mjs, assets beside it),
// so look beside the running module first, then in the repository layout.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

function findAsset(name: string, repoRelative: string): string {
  const candidates = [join(here, name), join(here, repoRelative), join(process.cwd(), 'p4', repoRelative)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`asset ${name} not found; looked in: ${candidates.join(', ')}`);
  return found;
}

/** The BF Runtime .proto (package bfrt_proto). */
export const protoPath = (): string => findAsset('bfruntime.proto', 'proto/bfruntime.proto');

/** The bf-rt.json of a program, e.g. tna_load_balancer. */
export const bfrtJsonPath = (program: string): string => findAsset(`${program}.bf-rt.json`, `${program}.bf-rt.json`);

/** The program name that runs on a Tofino generation. */
export const programForArch = (arch: 'tf1' | 'tf2'): string => (arch === 'tf2' ? 't2na_load_balancer' : 'tna_load_balancer');
