// Usage: npx tsx experiments/compare.ts [--out DIR] RUN_DIR [RUN_DIR…]
//   RUN_DIR: a run folder (p4cf or published bash format), or a parent folder → all run_* inside.
// Prints a side-by-side table and the difference of each run against the first (Mann-Whitney U
// on downtime), and writes compare.json + compare.html to --out (default results/compare_<stamp>/).
import { cliArgs } from '../lib/run/cli.ts';
import { compareRuns } from './analysis/compare.ts';

async function main(argv: string[]): Promise<number> {
  const { values, args: dirs } = cliArgs(
    {
      command: 'npx tsx experiments/compare.ts',
      summary:
        'Compares runs side by side (Mann-Whitney U on downtime against the first); RUN_DIR may be a folder of run_* folders.',
      args: { name: 'RUN_DIR', what: 'run folder', min: 1, max: Infinity },
      options: {
        out: { type: 'string', arg: 'DIR', help: 'where compare.json and compare.html go (default results/compare_<stamp>/)' },
      },
    },
    argv,
  );
  const r = await compareRuns(dirs, { outDir: values.out });
  console.log(r.text);
  console.log(`\ncompare.json: ${r.jsonPath}\ncompare.html: ${r.htmlPath}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: Error) => {
    console.error(`compare: ${e.message}`);
    process.exitCode = 1;
  },
);
