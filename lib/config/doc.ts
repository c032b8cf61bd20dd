// Generates config.env and the README configuration reference from lib/config/keys.ts, so the
// declarations stay the single source. `npx tsx lib/config/doc.ts --write` (npm run docs:config)
// writes both; `--check` exits 1 when either is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEYS, type KeyDecl, type KeyType } from './keys.ts';
import { SERVER_FIELDS, SERVER_KEY_TEMPLATE } from './keys/servers.ts';
import { configKeys, declOf } from './servers.ts';

export const README_START = '<!-- config-reference:start -->';
export const README_END = '<!-- config-reference:end -->';
export const REGEN_COMMAND = 'npm run docs:config';

const projectDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** config.env lists the keys of the default SERVERS (the published two), each with its value. */
const envEntries = (): [string, KeyDecl][] => {
  const servers = KEYS.SERVERS.default.split(',');
  return configKeys(servers).map((k) => [k, declOf(k, servers, KEYS.MGMT_SUBNET.default)!]);
};
/** The reference lists each server key once, as its template `<NAME>_<FIELD>`. */
const docEntries = (): [string, KeyDecl][] =>
  (Object.entries(KEYS) as [string, KeyDecl][]).flatMap(([k, d]) => [
    [k, d] as [string, KeyDecl],
    ...SERVER_FIELDS.filter((f) => SERVER_KEY_TEMPLATE[f].after === k).map((f): [string, KeyDecl] => {
      const tpl = SERVER_KEY_TEMPLATE[f];
      return [
        `<NAME>_${f}`,
        {
          group: tpl.group,
          type: tpl.type,
          default: tpl.defaultDoc,
          description: `${tpl.description.replaceAll('{name}', 'server <NAME> (one key per name in SERVERS)')}`,
        },
      ];
    }),
  ]);

function typeText(t: KeyType): string {
  switch (t.kind) {
    case 'int':
      return `integer${t.min !== undefined ? ` ${t.min}` : ''}${t.max !== undefined ? `–${t.max}` : ''}`;
    case 'enum':
      return t.values.join(' | ');
    case 'string':
      return t.hint ? `string (${t.hint})` : 'string';
    case 'url':
      return t.optional ? 'url or empty' : 'url';
    case 'ssh':
      return 'user@host[:port]';
    case 'hostport':
      return 'host:port';
    case 'cidr':
      return 'IPv4/prefix';
    case 'ipv4':
      return 'IPv4';
    case 'mac':
      return 'MAC';
    case 'duration':
      return 'duration (500ms, 15s, 2m)';
    case 'list':
      return `comma-separated list (${t.min}-${t.max} names)`;
    default:
      return t.kind;
  }
}

/** Quote a dotenv value only when it needs it. */
function envValue(v: string): string {
  return /^[A-Za-z0-9_./:@{}+,-]*$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`;
}

export function renderConfigEnv(): string {
  const out = [
    '# p4cf configuration: every key with its default (the local testbed).',
    `# GENERATED from lib/config/keys.ts by \`${REGEN_COMMAND}\` — edit the declarations, not this file.`,
    '# Override per run with config_hw.env (or --config FILE), environment variables, or --set KEY=VALUE.',
  ];
  let group = '';
  for (const [k, d] of envEntries()) {
    if (d.group !== group) {
      group = d.group;
      out.push('', `# --- ${group} ${'-'.repeat(Math.max(3, 90 - group.length))}`);
    }
    out.push(`# ${d.description} [${typeText(d.type)}]${d.flag ? ` (flag ${d.flag})` : ''}${d.secret ? ' (secret)' : ''}`);
    out.push(`${k}=${envValue(d.default)}`);
  }
  return out.join('\n') + '\n';
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function renderReadmeTable(): string {
  const out = [
    '',
    `Generated from \`lib/config/keys.ts\` by \`${REGEN_COMMAND}\`. Layers, later wins: \`config.env\` → \`config_hw.env\` (or \`--config FILE\`) → environment variables (declared names only) → flags (\`--steady-state\`, \`--post-migration\`, \`--migrations\`, \`--set KEY=VALUE\`). A hardware overlay that sets any \`*_SSH\` key and no \`TESTBED\` selects \`TESTBED=hw\`. \`npx tsx experiments/run.ts --print-config\` shows every effective value and where it came from.`,
  ];
  let group = '';
  for (const [k, d] of docEntries()) {
    if (d.group !== group) {
      group = d.group;
      out.push('', `### ${group}`, '', '| key | type | default | description |', '| --- | --- | --- | --- |');
    }
    out.push(
      `| \`${k}\` | ${cell(typeText(d.type))} | ${d.default === '' ? '(empty)' : `\`${cell(d.default)}\``} | ${cell(d.description)}${d.flag ? ` (flag \`${d.flag}\`)` : ''}${d.secret ? ' (secret: redacted in output)' : ''} |`,
    );
  }
  out.push('');
  return out.join('\n');
}

/** README text with the reference between the markers replaced. */
export function spliceReadme(readme: string, table: string): string {
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${README_START} … ${README_END}`);
  return readme.slice(0, a + README_START.length) + '\n' + table.trim() + '\n' + readme.slice(b);
}

export interface DocStatus {
  configEnvOk: boolean;
  readmeOk: boolean;
}

export function checkDocs(dir = projectDir): DocStatus {
  const read = (f: string) => {
    try {
      return readFileSync(join(dir, f), 'utf8');
    } catch {
      return '';
    }
  };
  const readme = read('README.md');
  let readmeOk = false;
  try {
    readmeOk = spliceReadme(readme, renderReadmeTable()) === readme;
  } catch {
    readmeOk = false;
  }
  return { configEnvOk: read('config.env') === renderConfigEnv(), readmeOk };
}

export function writeDocs(dir = projectDir): void {
  writeFileSync(join(dir, 'config.env'), renderConfigEnv());
  const readmePath = join(dir, 'README.md');
  writeFileSync(readmePath, spliceReadme(readFileSync(readmePath, 'utf8'), renderReadmeTable()));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--write')) {
    writeDocs();
    console.log('wrote config.env and the README configuration reference');
  } else {
    const s = checkDocs();
    if (s.configEnvOk && s.readmeOk) console.log('config.env and README reference are up to date');
    else {
      console.error(
        `out of date: ${[!s.configEnvOk && 'config.env', !s.readmeOk && 'README.md'].filter(Boolean).join(', ')}; run \`${REGEN_COMMAND}\``,
      );
      process.exit(1);
    }
  }
}
