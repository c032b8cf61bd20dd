// How the switch says no, decoded: the RPC-level status, and for a Write/Read in which updates
// failed, switchd's per-update errors (status UNKNOWN, bfrt_proto.Error details), so the caller
// learns which update failed with which code.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from '../p4/assets.ts';
import type { Update } from './bfrt-types.ts';

/**
 * kind 'rejected': the switch answered and refused (→ HTTP 502);
 * 'unavailable': no live session (→ 503); 'invalid': the request could not be encoded (→ 400).
 */
export class BfrtError extends Error {
  constructor(
    message: string,
    readonly kind: 'rejected' | 'unavailable' | 'invalid',
    readonly grpcCode?: number,
    /** the updates of a Write the switch refused, with their own codes (empty for an RPC-level refusal) */
    readonly failures: UpdateFailure[] = [],
  ) {
    super(message);
    this.name = 'BfrtError';
  }
}

/** One refused update: its index in the Write, what it was, and the switch's per-update code and message. */
export interface UpdateFailure {
  index: number;
  update: string;
  code: number;
  codeName: string;
  message: string;
}

// grpc-js loads the proto at runtime: the .proto travels beside the bundle (p4/assets.ts).
let cachedPkg:
  | {
      ctor: grpc.ServiceClientConstructor;
      rpcStatus: protoLoader.MessageTypeDefinition<any, any>;
      error: protoLoader.MessageTypeDefinition<any, any>;
    }
  | undefined;
export function loadProto() {
  if (cachedPkg) return cachedPkg;
  const def = protoLoader.loadSync(protoPath(), { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { bfrt_proto: { BfRuntime: grpc.ServiceClientConstructor } };
  cachedPkg = {
    ctor: pkg.bfrt_proto.BfRuntime,
    rpcStatus: def['bfrt_proto.RpcStatus'] as protoLoader.MessageTypeDefinition<any, any>,
    error: def['bfrt_proto.Error'] as protoLoader.MessageTypeDefinition<any, any>,
  };
  return cachedPkg;
}

/**
 * The per-update results of a failed Write/Read. switchd answers a batch in which any update
 * failed with status UNKNOWN ("Write Error Status") and puts one bfrt_proto.Error per update
 * (canonical_code 0 for those that worked, up to the last failure) Any-packed into the
 * google.rpc.Status in grpc-status-details-bin; Intel's bfrt_grpc client reads them only under
 * UNKNOWN, and so does this. Undefined when there are none.
 */
export function updateResults(err: grpc.ServiceError): { code: number; message: string }[] | undefined {
  if (err.code !== grpc.status.UNKNOWN) return undefined;
  const bin = err.metadata?.get('grpc-status-details-bin')?.[0];
  if (!bin || !Buffer.isBuffer(bin)) return undefined;
  try {
    const { rpcStatus, error } = loadProto();
    const st = rpcStatus.deserialize(bin) as { details?: { value?: Buffer }[] };
    return (st.details ?? []).map((d) => {
      const e = error.deserialize(d.value ?? Buffer.alloc(0)) as { message?: string; canonical_code?: number };
      return { code: e.canonical_code ?? 0, message: e.message ?? '' };
    });
  } catch {
    return undefined; // undecodable details: the status text is all there is
  }
}

/** The switch's own words for a failed RPC: the status text plus every per-update error. */
export function switchMessage(err: grpc.ServiceError): string {
  const parts = [err.details || err.message];
  for (const r of updateResults(err) ?? []) if (r.code) parts.push(`${grpc.status[r.code] ?? r.code}: ${r.message}`);
  return [...new Set(parts.filter(Boolean))].join('; ');
}

const describe = (u: Update) => {
  const key = Object.entries(u.entry.key ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
  return `${u.type} ${u.entry.table}${key ? ` ${key}` : ''}`;
};

/** A Write refused per update becomes a BfrtError naming each failed update and its code. */
export function perUpdate(e: unknown, updates: Update[], addr: string): unknown {
  if (!(e instanceof BfrtError) || e.grpcCode !== grpc.status.UNKNOWN) return e;
  const failures: UpdateFailure[] = [];
  const cause = (e as { cause?: grpc.ServiceError }).cause;
  (cause ? (updateResults(cause) ?? []) : []).forEach((r, index) => {
    if (r.code)
      failures.push({
        index,
        update: updates[index] ? describe(updates[index]) : `#${index}`,
        code: r.code,
        codeName: grpc.status[r.code] ?? String(r.code),
        message: r.message,
      });
  });
  if (!failures.length) return e;
  const applied = updates.length - failures.length;
  const msg =
    `Write to ${addr} refused ${failures.length} of ${updates.length} update(s)${applied ? ` (the other ${applied} were applied: CONTINUE_ON_ERROR)` : ''}: ` +
    failures.map((f) => `#${f.index} ${f.update}: ${f.codeName} ${f.message}`).join('; ');
  return new BfrtError(msg, 'rejected', failures[0].code, failures);
}
