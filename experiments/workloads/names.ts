// The names WORKLOAD accepts. Kept apart from the registry (index.ts) so the config key
// declarations can name them without loading every workload's code (which itself loads the
// config: a cycle). index.ts maps each name to its record; the compiler checks both agree.
export const WORKLOAD_NAMES = ['stream', 'redis'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];
