// The controller against switchd's error shape: a Write in which updates fail comes back as status
// UNKNOWN with one bfrt_proto.Error per update in grpc-status-details-bin (as the switch model,
// like bf_switchd, answers); the controller must say which update failed with which code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { type BfrtClient, BfrtError, createBfrtClient } from '../controller/bfrt.ts';
import { type ModelProcess, startModel } from '../p4/model/raw-client.ts';

let model: ModelProcess;
let c: BfrtClient;
const fwd = (ip: string, port: number) => ({
  table: 'forward',
  key: { 'hdr.ipv4.dst_addr': ip },
  action: 'set_egress_port',
  data: { port },
});
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('write should have been refused');
    },
    (e) => e as BfrtError,
  );

beforeAll(async () => {
  model = await startModel({ listen: '127.0.0.1:0', dry: true, ports: [[140, 'p4ce-x140']] });
  c = createBfrtClient({ addr: model.addr, program: 'tna_load_balancer', connectRetries: 3 });
  await c.connect();
});
afterAll(async () => {
  await c?.close();
  await model?.stop();
});

describe('controller decodes per-update errors under UNKNOWN', () => {
  it('names the failed update, its index and code, and says the others were applied (CONTINUE_ON_ERROR)', async () => {
    await c.write([{ type: 'INSERT', entry: fwd('10.5.0.1', 140) }]);
    const e = await refusal(
      c.write([
        { type: 'INSERT', entry: fwd('10.5.0.2', 140) },
        { type: 'INSERT', entry: fwd('10.5.0.1', 140) },
      ]),
    );
    expect(e).toBeInstanceOf(BfrtError);
    expect(e.kind).toBe('rejected');
    expect(e.grpcCode).toBe(status.ALREADY_EXISTS);
    expect(e.failures).toEqual([
      expect.objectContaining({
        index: 1,
        code: status.ALREADY_EXISTS,
        codeName: 'ALREADY_EXISTS',
        update: 'INSERT forward hdr.ipv4.dst_addr=10.5.0.1',
      }),
    ]);
    expect(e.message).toMatch(
      /refused 1 of 2 update\(s\) \(the other 1 were applied: CONTINUE_ON_ERROR\): #1 INSERT forward hdr\.ipv4\.dst_addr=10\.5\.0\.1: ALREADY_EXISTS .*already exists/,
    );
    expect((await c.read('forward')).map((x) => x.key['hdr.ipv4.dst_addr']).sort()).toEqual(['10.5.0.1', '10.5.0.2']);
  });

  it('reports every failed update of a batch with its own code', async () => {
    const e = await refusal(
      c.write([
        { type: 'MODIFY', entry: fwd('10.5.0.9', 140) },
        { type: 'INSERT', entry: fwd('10.5.0.3', 140) },
        { type: 'DELETE', entry: { table: 'action_selector_ap', key: { $ACTION_MEMBER_ID: 42 } } },
      ]),
    );
    expect(e.failures.map((f) => [f.index, f.codeName])).toEqual([
      [0, 'NOT_FOUND'],
      [2, 'NOT_FOUND'],
    ]);
    expect(e.message).toMatch(/refused 2 of 3/);
  });

  it('reads leave out the default entry switchd appends to a whole-table read', async () => {
    expect(await c.read('client_snat')).toEqual([]);
  });
});
