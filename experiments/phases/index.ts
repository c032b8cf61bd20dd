// The ordered phase registry: the run order is the order of this list, which test/phases.test.ts
// holds to PHASE_ORDER in lib/run/phases.ts.
import type { Phase } from '../../lib/run/phases.ts';
import * as testbed from './testbed.ts';
import * as preflight from './preflight.ts';
import * as sync from './sync.ts';
import * as images from './images.ts';
import * as switchd from './switchd.ts';
import * as controller from './controller.ts';
import * as clean from './clean.ts';
import * as build from './build.ts';
import * as workload from './workload.ts';
import * as steady from './steady.ts';
import * as migrate from './migrate.ts';
import * as post from './post.ts';
import * as collect from './collect.ts';
import * as analyze from './analyze.ts';

/** Every phase file exports `phase`; its name must match the file so `--phase NAME` finds it. */
function pick(file: string, mod: { phase: Phase }): Phase {
  if (mod.phase.name !== file)
    throw new Error(
      `experiments/phases/${file}.ts exports a phase named ${JSON.stringify(mod.phase.name)}; expected ${JSON.stringify(file)}`,
    );
  return mod.phase;
}

export const phases: Phase[] = [
  pick('testbed', testbed),
  pick('preflight', preflight),
  pick('sync', sync),
  pick('images', images),
  pick('switchd', switchd),
  pick('controller', controller),
  pick('clean', clean),
  pick('build', build),
  pick('workload', workload),
  pick('steady', steady),
  pick('migrate', migrate),
  pick('post', post),
  pick('collect', collect),
  pick('analyze', analyze),
];
