// Write the p4studio profile for a hardware build of the SDE.
//
// A hardware build needs fields that the model profile lacks and that neither `p4studio profile
// apply` nor the interactive installer fill in: `global-options.asic: true`, the BSP via
// `features.bf-platforms.bsp-path`, the platform variant flag under bf-platforms (newport only for
// tf2: p4studio maps newport to tofino2 alone, and the published Wedge100BF-32X (tf1) profile has no
// variant flag), and the architecture. SAI (`features.switch.sai`) only when asked for: p4cf talks
// BF Runtime, and the published tf1 profile built without it. The controller talks BF Runtime over gRPC,
// so `drivers.bfrt` and `drivers.grpc` are turned on too. Starting from a model profile keeps its
// other choices (and comments); starting from scratch writes the minimal profile.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';
import { cliMain, need, requireFile } from './cli.ts';

export const ARCH_TO_SDE = { tf1: 'tofino', tf2: 'tofino2' } as const;
export type Arch = keyof typeof ARCH_TO_SDE;
/** bf-platforms flags that select a board family in the BSP; `none` sets no flag. */
export const PLATFORM_VARIANTS = ['newport', 'accton-diags', 'newport-diags', 'none'] as const;
export type PlatformVariant = (typeof PLATFORM_VARIANTS)[number];

export interface ProfileOptions {
  /** The BSP archive given to p4studio (bf-reference-bsp-<v>.tgz); written as an absolute path. */
  bspPath: string;
  arch: Arch;
  /** Default: newport for tf2, none for tf1 (see defaultPlatform). */
  platform?: PlatformVariant;
  /** Build the SAI switch library too (features.switch.sai). Default false. */
  sai?: boolean;
}

/** The variant flag the arch's reference board needs: newport (Tofino 2) or none (Wedge100BF, Tofino 1). */
export function defaultPlatform(arch: Arch): PlatformVariant {
  return arch === 'tf2' ? 'newport' : 'none';
}

export function checkProfileOptions(o: ProfileOptions): void {
  if (!(o.arch in ARCH_TO_SDE)) throw new Error(`bad arch ${JSON.stringify(o.arch)}: expected tf1 or tf2`);
  const p = o.platform ?? defaultPlatform(o.arch);
  if (!PLATFORM_VARIANTS.includes(p))
    throw new Error(`bad platform variant ${JSON.stringify(p)}: expected one of ${PLATFORM_VARIANTS.join(', ')}`);
  if (o.arch === 'tf1' && p.startsWith('newport')) {
    throw new Error(
      `platform variant ${p} with arch tf1: p4studio builds newport only for tofino2 (tf2); use --platform none (or accton-diags) for a Tofino 1 board`,
    );
  }
  if (!o.bspPath) throw new Error('missing BSP path (bsp-path)');
}

/** Make sure the node at `path` is a mapping (replacing a scalar such as `bf-platforms: false`). */
function ensureMap(doc: Document, path: string[]): void {
  for (let i = 1; i <= path.length; i++) {
    const sub = path.slice(0, i);
    const node = doc.getIn(sub, true);
    if (!isMap(node)) doc.setIn(sub, doc.createNode({}));
    // A flow map such as `global-options: {}` would stay on one line; write blocks like p4studio's own profiles.
    else node.flow = false;
  }
}

/**
 * The hardware profile as YAML text. `baseText` is an existing (model) profile to start from;
 * without it the profile is written from scratch.
 */
export function hardwareProfileYaml(o: ProfileOptions, baseText?: string, baseLabel = 'base profile'): string {
  checkProfileOptions(o);
  // Starting from scratch, parse an empty mapping so the document has a map to set fields in.
  const doc = parseDocument(baseText?.trim() ? baseText : '{}\n');
  if (doc.errors.length) throw new Error(`${baseLabel} is not valid YAML: ${doc.errors[0].message}`);
  if (!isMap(doc.contents)) throw new Error(`${baseLabel} must be a YAML mapping (global-options, features, architectures)`);
  doc.contents.flow = false;
  if (!baseText?.trim()) doc.commentBefore = ' p4studio profile for a hardware (ASIC) build, written by hw/write-profile.ts';
  ensureMap(doc, ['global-options']);
  doc.setIn(['global-options', 'asic'], true);
  ensureMap(doc, ['features', 'bf-platforms']);
  doc.setIn(['features', 'bf-platforms', 'bsp-path'], resolve(o.bspPath));
  const platform = o.platform ?? defaultPlatform(o.arch);
  for (const v of PLATFORM_VARIANTS) {
    if (v === 'none') continue;
    if (v === platform) doc.setIn(['features', 'bf-platforms', v], true);
    else if (doc.hasIn(['features', 'bf-platforms', v])) doc.setIn(['features', 'bf-platforms', v], false);
  }
  ensureMap(doc, ['features', 'drivers']);
  doc.setIn(['features', 'drivers', 'bfrt'], true);
  doc.setIn(['features', 'drivers', 'grpc'], true);
  if (o.sai) {
    ensureMap(doc, ['features', 'switch']);
    doc.setIn(['features', 'switch', 'sai'], true);
  }
  if (!baseText?.trim()) doc.setIn(['features', 'p4-examples'], doc.createNode(['p4-16-programs']));
  // One architecture: the build then only compiles what this switch runs.
  doc.setIn(['architectures'], doc.createNode([ARCH_TO_SDE[o.arch]]));
  if (!isSeq(doc.getIn(['architectures'], true))) throw new Error('internal: architectures is not a list');
  return doc.toString({ indent: 2 });
}

/** Write the hardware profile to `out`, from `from` (a model profile) or from scratch. */
export function writeProfile(opts: ProfileOptions & { out: string; from?: string; requireBsp?: boolean }): string {
  if (opts.requireBsp !== false && !existsSync(opts.bspPath)) {
    throw new Error(
      `BSP archive not found: ${opts.bspPath} (bsp-path must name the bf-reference-bsp-<version>.tgz on the build machine)`,
    );
  }
  let base: string | undefined;
  if (opts.from) {
    requireFile(opts.from, 'model profile');
    base = readFileSync(opts.from, 'utf8');
  }
  const text = hardwareProfileYaml(opts, base, opts.from);
  writeFileSync(opts.out, text);
  return text;
}

const USAGE = `
Usage: npx tsx hw/write-profile.ts --bsp BSP.tgz --arch tf1|tf2 --out FILE [--from MODEL_PROFILE] [--platform VARIANT] [--sai]

Writes a p4studio profile for a hardware build: global-options.asic true, features.bf-platforms
with bsp-path and the platform variant, drivers bfrt + grpc, and the architecture (tf1 → tofino,
tf2 → tofino2). With --from, the model profile's other settings and comments are kept.

  --bsp FILE        BSP archive, e.g. /opt/bf-reference-bsp-9.13.4.tgz (written as an absolute path)
  --arch tf1|tf2    Tofino generation (default tf1, the published testbed's Wedge100BF-32X)
  --out FILE        profile to write
  --from FILE       model profile to start from (default: write from scratch)
  --platform NAME   bf-platforms variant flag: ${PLATFORM_VARIANTS.join(', ')}
                    (default: newport for tf2, none for tf1; newport is tofino2-only in p4studio)
  --sai             also build SAI (features.switch.sai: true); p4cf does not need it
  --no-bsp-check    write even if the BSP file does not exist here (profile made for another machine)
  -h, --help        this text
`;

cliMain(
  import.meta.url,
  {
    bsp: { type: 'string' },
    arch: { type: 'string' },
    out: { type: 'string' },
    from: { type: 'string' },
    platform: { type: 'string' },
    sai: { type: 'boolean' },
    'no-bsp-check': { type: 'boolean' },
  },
  USAGE,
  async ({ values }) => {
    const out = need(values.out, '--out', 'the profile file to write');
    writeProfile({
      bspPath: need(values.bsp, '--bsp', 'the BSP archive (bsp-path)'),
      arch: (values.arch ?? 'tf1') as Arch,
      platform: values.platform as PlatformVariant | undefined,
      sai: values.sai ?? false,
      out,
      from: values.from,
      requireBsp: !values['no-bsp-check'],
    });
    console.log(`wrote ${resolve(out)}`);
  },
);
