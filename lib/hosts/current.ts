// onTofino / onServer / onLocal without a context argument, for researchers' scripts: they act on
// the hosts of the run whose phase is executing (AsyncLocalStorage, as zx's `within` keeps $'s
// settings), so a phase written as `await onServer('lakewood')`…`` works wherever it runs.
import { AsyncLocalStorage } from 'node:async_hooks';
import { hostsOf, type HostSource } from './shell.ts';
import type { Host, HostName } from './types.ts';

const current = new AsyncLocalStorage<HostSource>();

/** Run `fn` with `src` (a RunContext) as the hosts the free helpers act on. */
export function withHosts<T>(src: HostSource, fn: () => T): T {
  return current.run(src, fn);
}

function active(): HostSource {
  const src = current.getStore();
  if (!src)
    throw new Error(
      'onTofino/onServer/onLocal used outside a run: call them in a phase run by runPhases (experiments/lib.ts), or inside withHosts(ctx, …)',
    );
  return src;
}

const lazy: HostSource = {
  host: (name: HostName): Host => active().host(name),
  get signal() {
    return current.getStore()?.signal;
  },
};

export const { onTofino, onServer, onLocal, on } = hostsOf(lazy);
