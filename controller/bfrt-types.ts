// The BF Runtime client's public records: entries named as a person writes them, the updates,
// the client's options and session state, and the client interface itself (bfrt.ts builds it).
import type { TableInfo, Value } from './schema.ts';

export type UpdateType = 'INSERT' | 'MODIFY' | 'DELETE' | 'INSERT_OR_MODIFY';

/** A table entry named the way a person would write it; names resolve through bf-rt.json. */
export interface EntrySpec {
  table: string;
  key?: Record<string, Value>;
  action?: string;
  data?: Record<string, Value>;
}

export interface Update {
  type: UpdateType;
  entry: EntrySpec;
}

/** An entry read back, decoded to names and readable values. */
export interface DecodedEntry {
  table: string;
  key: Record<string, unknown>;
  action?: string;
  data: Record<string, unknown>;
}

export interface BfrtOptions {
  addr: string;
  program: string;
  deviceId?: number;
  clientId?: number;
  log?: (line: string) => void;
  /** Per RPC deadline. */
  rpcTimeoutMs?: number;
  /** Attempts of one (re)connection round before giving up; Infinity for a daemon. */
  connectRetries?: number;
  /** Called after every Write RPC (for metrics). */
  onWrite?: (ms: number, tables: string[], ok: boolean) => void;
}

export interface SessionState {
  connected: boolean;
  bound: boolean;
  addr: string;
  program: string;
  reconnects: number;
  lastError?: string;
  tables: number;
}

export interface BfrtClient {
  readonly program: string;
  /** Resolves once the first session is up (subscribed, bound, schema loaded). */
  connect(): Promise<void>;
  state(): SessionState;
  write(updates: Update[], label?: string): Promise<{ ms: number }>;
  read(table: string, key?: Record<string, Value>): Promise<DecodedEntry[]>;
  /** Remove every entry of a table (delete without key; per-entry delete as fallback). */
  clear(table: string): Promise<void>;
  hasTable(name: string): boolean;
  hasAction(table: string, action: string): boolean;
  table(name: string): TableInfo;
  /** Registered hooks run (in order) after every successful re-connection, not the first. */
  onReconnect(fn: () => Promise<void>): void;
  close(): Promise<void>;
}
