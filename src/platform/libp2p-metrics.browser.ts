/** Tabs serve no /metrics: libp2p's own metrics are not collected there (their cost stays out). */
import type { ComponentLogger, Metrics } from '@libp2p/interface'

export interface Libp2pMetrics {
  metrics?: (components: { logger: ComponentLogger }) => Metrics
  text: () => Promise<string>
}

export function createLibp2pMetrics (): Libp2pMetrics {
  return { text: async () => '' }
}
