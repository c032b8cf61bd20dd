// lib/hosts: everything a phase or a script needs to talk to the testbed machines.
export * from './types.ts';
export * from './quote.ts';
export * from './errors.ts';
export * from './exec.ts';
export * from './known-hosts.ts';
export * from './ssh.ts';
export * from './local.ts';
export * from './dryrun.ts';
export * from './shell.ts';
export * from './dirs.ts';
