// Usage: npx tsx experiments/compare.ts [--out DIR] RUN_DIR [RUN_DIR…]
//   RUN_DIR: a run folder (p4cf or published bash format), or a parent folder → all run_* inside.
// Prints a side-by-side table and the difference of each run against the first (Mann-Whitney U
// on downtime), and writes compare.json + compare.html to --out (default results/compare_<stamp>/).
import { compareRuns } from './analysis/compare.ts';

const USAGE = 'usage: npx tsx experiments/compare.ts [--out DIR] RUN_DIR [RUN_DIR…]   (RUN_DIR may be a folder of run_* folders)';

async function main(argv: string[]): Promise<number> {
  const dirs: string[] = [];
  let out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { console.log(USAGE); return 0; }
    if (a === '--out') {
      out = argv[++i];
      if (!out) { console.error(`--out needs a folder\n${USAGE}`); return 2; }
    } else if (a.startsWith('--out=')) out = a.slice(6);
    else if (a.startsWith('-')) { console.error(`unknown option ${a}\n${USAGE}`); return 2; }
    else dirs.push(a);
  }
  if (dirs.length === 0) { console.error(`no run folder given\n${USAGE}`); return 2; }
  const r = await compareRuns(dirs, { outDir: out });
  console.log(r.text);
  console.log(`\ncompare.json: ${r.jsonPath}\ncompare.html: ${r.htmlPath}`);
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: Error) => {
  console.error(`compare: ${e.message}`);
  process.exitCode = 1;
});
