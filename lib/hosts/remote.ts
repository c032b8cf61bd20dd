// Kept for branches written before lib/hosts/ was split into one module per job; import from
// lib/hosts/index.ts (or the module itself) instead. To be removed once every branch is merged.
export * from './index.ts';
