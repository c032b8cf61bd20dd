// gRPC error details as switchd sends them: `grpc-status-details-bin` carrying a
// google.rpc.Status whose details are bfrt_proto.Error messages. Encoded by hand (a few
// protobuf fields) so the model needs nothing beyond grpc-js.
import { Metadata } from '@grpc/grpc-js';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const tag = (no: number, wire: number) => varint((no << 3) | wire);
const int = (no: number, n: number) => (n === 0 ? Buffer.alloc(0) : Buffer.concat([tag(no, 0), varint(n)]));
const bytes = (no: number, b: Buffer | string) => {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b);
  return Buffer.concat([tag(no, 2), varint(buf.length), buf]);
};

const str = (no: number, v: string) => (v === '' ? Buffer.alloc(0) : bytes(no, v));

/** bfrt_proto.Error {1 canonical_code, 2 message, 3 space, 4 code}; BfRtServerErrorReporter sets
 * canonical_code, message and an empty space; a success is an Error with every field 0. */
export const encodeBfrtError = (canonical: number, message: string, code = 0): Buffer =>
  Buffer.concat([int(1, canonical), str(2, message), int(4, code)]);

/** google.rpc.Status {1 code, 2 message, 3 repeated Any{1 type_url, 2 value}} */
export function encodeRpcStatus(code: number, message: string, details: Buffer[]): Buffer {
  const anys = details.map((d) => bytes(3, Buffer.concat([bytes(1, 'type.googleapis.com/bfrt_proto.Error'), bytes(2, d)])));
  return Buffer.concat([int(1, code), str(2, message), ...anys]);
}

/** An RPC-level refusal (check_and_return in the server: a plain status, no details). */
export const rpcError = (code: number, message: string): { code: number; details: string } => ({ code, details: message });

/**
 * A Write or Read in which some update failed, as BfRtServerErrorReporter::get_status builds it:
 * status UNKNOWN with message "Write Error Status"/"Read Error Status", and in
 * grpc-status-details-bin one Any-packed bfrt_proto.Error per update up to the last failed one
 * (an all-zero Error, i.e. OK, for those that worked). undefined when nothing failed.
 */
export function batchError(
  what: 'Write' | 'Read',
  results: ({ code: number; message: string } | undefined)[],
): { code: number; details: string; metadata: Metadata } | undefined {
  const last = results.map((r) => !!r).lastIndexOf(true);
  if (last < 0) return undefined;
  const message = `${what} Error Status`;
  const details = results.slice(0, last + 1).map((r) => (r ? encodeBfrtError(r.code, r.message) : Buffer.alloc(0)));
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', encodeRpcStatus(2 /* UNKNOWN */, message, details));
  return { code: 2, details: message, metadata };
}
