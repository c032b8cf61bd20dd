// Prometheus metrics of the controller, on a private registry so several controllers
// (tests, benches) can live in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ControllerMetrics {
  registry: Registry;
  requests: Counter<'endpoint' | 'method' | 'status'>;
  requestSeconds: Histogram<'endpoint'>;
  grpcWriteSeconds: Histogram<'table' | 'ok'>;
  reconnects: Counter<string>;
  connected: Gauge<string>;
}

// Switch updates are sub-millisecond to tens of ms; the buckets resolve that range.
const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'controller_' });
  return {
    registry,
    requests: new Counter({
      name: 'controller_http_requests_total',
      help: 'HTTP requests by endpoint, method and status',
      labelNames: ['endpoint', 'method', 'status'],
      registers: [registry],
    }),
    requestSeconds: new Histogram({
      name: 'controller_http_request_duration_seconds',
      help: 'HTTP request latency by endpoint',
      labelNames: ['endpoint'],
      buckets: BUCKETS,
      registers: [registry],
    }),
    grpcWriteSeconds: new Histogram({
      name: 'controller_grpc_write_duration_seconds',
      help: 'BF Runtime Write RPC latency, by first table of the write',
      labelNames: ['table', 'ok'],
      buckets: BUCKETS,
      registers: [registry],
    }),
    reconnects: new Counter({
      name: 'controller_switch_reconnects_total',
      help: 'Re-established BF Runtime sessions after the switch went away',
      registers: [registry],
    }),
    connected: new Gauge({
      name: 'controller_switch_connected',
      help: '1 when subscribed and bound to the program',
      registers: [registry],
    }),
  };
}
