/**
 * Prometheus metrics (prom-client). One registry per running instance, so several instances in
 * one test process do not collide. Capabilities register their own metrics on `registry`.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route'>
  /** What /metrics answers, when more than this registry (the worker process's metrics added). */
  render?: () => Promise<string>
}

export function createMetrics(): Metrics {
  const registry = new Registry()
  registry.setDefaultLabels({ service: 'tenure' })
  collectDefaultMetrics({ register: registry, prefix: 'tenure_' })
  const httpRequests = new Counter({
    name: 'tenure_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  const httpDuration = new Histogram({
    name: 'tenure_http_request_duration_seconds',
    help: 'HTTP request duration by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  return { registry, httpRequests, httpDuration }
}
