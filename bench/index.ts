// `npm run bench`: every bench/*.ts except this file, one after another (each also runs alone
// with `npx tsx bench/<name>.ts`). A failing benchmark is reported and the others still run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsx = join(here, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.endsWith('.d.ts'))
  .filter((f) => !only.length || only.includes(f.replace(/\.ts$/, '')))
  .sort();

const failed: string[] = [];
for (const f of files) {
  console.log(`\n##### bench/${f}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [tsx, join(here, f)], { stdio: 'inherit', timeout: 15 * 60_000 });
  const status = r.status === 0 ? 'ok' : `FAILED (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`;
  if (r.status !== 0) failed.push(f);
  console.log(`##### bench/${f}: ${status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
console.log(
  `\n${files.length - failed.length}/${files.length} benchmarks ok${failed.length ? `; failed: ${failed.join(', ')}` : ''}`,
);
process.exit(failed.length ? 1 : 0);
