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

/** bfrt_proto.Error {1 canonical_code, 2 message, 3 space, 4 code} */
export const encodeBfrtError = (code: number, message: string): Buffer =>
  Buffer.concat([int(1, code), bytes(2, message), bytes(3, 'ALL'), int(4, code)]);

/** google.rpc.Status {1 code, 2 message, 3 repeated Any{1 type_url, 2 value}} */
export function encodeRpcStatus(code: number, message: string, details: Buffer[]): Buffer {
  const anys = details.map((d) => bytes(3, Buffer.concat([bytes(1, 'type.googleapis.com/bfrt_proto.Error'), bytes(2, d)])));
  return Buffer.concat([int(1, code), bytes(2, message), ...anys]);
}

/** A grpc-js ServiceError carrying the per-update error in its status details. */
export function serviceError(code: number, message: string): { code: number; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', encodeRpcStatus(code, message, [encodeBfrtError(code, message)]));
  return { code, details: message, metadata };
}
