// The controller's HTTP layer against clients that misbehave at the socket level: a body shorter
// than its Content-Length must get an answer (408) instead of holding the request open forever.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BODY_TIMEOUT_MS, notAHost } from '../controller/api.ts';
import { parseControllerConfig } from '../controller/config.ts';
import { startController, type RunningController } from '../controller/server.ts';
import { freePort } from '../controller/testkit.ts';
import { startModel, type ModelProcess } from '../p4/model/raw-client.ts';

const port = (dev_port: number) => ({ dev_port, speed: 'BF_SPEED_25G', fec: 'BF_FEC_TYP_REED_SOLOMON', an: 'PM_AN_DEFAULT' });

/** Send raw bytes, resolve with everything the server answered until it closed (bounded). */
function rawRequest(url: string, text: string, maxMs: number): Promise<{ answer: string; ms: number }> {
  const { hostname, port: p } = new URL(url);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(p), hostname, () => s.write(text));
    let answer = '';
    const guard = setTimeout(() => {
      s.destroy();
      resolve({ answer, ms: Date.now() - t0 });
    }, maxMs);
    s.on('data', (b) => {
      answer += b.toString();
    });
    s.on('close', () => {
      clearTimeout(guard);
      resolve({ answer, ms: Date.now() - t0 });
    });
    s.on('error', (e) => {
      clearTimeout(guard);
      reject(e);
    });
  });
}

describe('controller HTTP: incomplete request bodies', () => {
  let model: ModelProcess;
  let ctl: RunningController;

  beforeAll(async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    model = await startModel({
      listen: addr,
      names: 'pipe',
      dry: true,
      ports: [
        [140, 'p4ca-dry140'],
        [148, 'p4ca-dry148'],
      ],
    });
    const config = parseControllerConfig({
      id: 0,
      client_id: 0,
      addr,
      load_balancer_ip: '192.168.12.10',
      service_port: 8080,
      port_setup: [port(140), port(148)],
      nodes: [
        { ipv4: '192.168.12.2', sw_port: 140, dst_mac: '02:42:c0:a8:0c:02', is_lb_node: true },
        { ipv4: '192.168.12.3', sw_port: 148, dst_mac: '02:42:c0:a8:0c:03', is_lb_node: true },
      ],
    });
    ctl = await startController({ config, port: 0, log: () => {}, bodyTimeoutMs: 300 });
    await ctl.ready;
  });
  afterAll(async () => {
    await ctl?.close();
    await model?.stop();
  });

  it('a body shorter than its Content-Length gets 408 naming what arrived, and the connection closes', async () => {
    const body = '{"ipv4": "192.168.12.2"';
    const r = await rawRequest(
      ctl.url,
      `POST /updateForward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 40}\r\n\r\n${body}`,
      5_000,
    );
    expect(r.answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.answer).toMatch(/request body incomplete after 300 ms: got 23 of 63 bytes/);
    expect(r.answer.toLowerCase()).toContain('connection: close');
    expect(r.ms).toBeLessThan(5_000); // answered and closed, not held until the guard
  });

  it('a complete request on the same server still works afterwards', async () => {
    const body = JSON.stringify({ ipv4: '192.168.12.2', sw_port: 148 });
    const r = await rawRequest(
      ctl.url,
      `POST /updateForward HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      5_000,
    );
    expect(r.answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('the default body timeout is a few seconds, not minutes', () => {
    expect(BODY_TIMEOUT_MS).toBeGreaterThanOrEqual(1_000);
    expect(BODY_TIMEOUT_MS).toBeLessThanOrEqual(30_000);
  });

  it('notAHost names why an address cannot sit behind a switch port', () => {
    expect(notAHost('0.0.0.0')).toBe('the unspecified address');
    expect(notAHost('255.255.255.255')).toBe('the broadcast address');
    expect(notAHost('127.0.0.1')).toBe('a loopback address');
    expect(notAHost('239.1.1.1')).toBe('a multicast address');
    expect(notAHost('192.168.12.2')).toBeUndefined();
  });
});
