/**
 * libp2p's own metrics (connections, streams, protocol traffic, dial queue...) in a prom-client
 * registry of this peer's own, appended to its /metrics. Never the global registry: several peers
 * share one process in tests.
 */
import { Registry } from 'prom-client'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ComponentLogger, Metrics } from '@libp2p/interface'

export interface Libp2pMetrics {
  /** the libp2p `metrics` service factory, undefined where there is none */
  metrics?: (components: { logger: ComponentLogger }) => Metrics
  /** Prometheus text of libp2p's metrics */
  text: () => Promise<string>
}

export function createLibp2pMetrics (): Libp2pMetrics {
  const registry = new Registry()
  return {
    metrics: prometheusMetrics({ registry, collectDefaultMetrics: false, preserveExistingMetrics: true }),
    text: async () => await registry.metrics()
  }
}
