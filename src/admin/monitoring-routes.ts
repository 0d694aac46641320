/** Admin API routes of the MonitoringSystem: /health, /metrics, /traces, /alerts, /mesh. */
import { route, queryInt, type Route } from '../http/index.ts'
import type { MeshNode } from '../node.ts'

export function monitoringRoutes (node: MeshNode): Route[] {
  const monitoring = node.monitoring
  return [
    route('GET', '/health', async (req) => {
      const report = await monitoring.checkHealth(undefined, { signal: req.signal })
      return { status: report.status === 'down' ? 503 : 200, json: report }
    }),
    route('GET', '/metrics', async () => ({ text: await monitoring.metricsText(), contentType: monitoring.metricsContentType })),
    route('GET', '/traces', (req) => ({ json: monitoring.recentSpans(queryInt(req, 'limit', { min: 1, max: 10_000, fallback: 100 })) })),
    route('GET', '/alerts', () => ({ json: monitoring.activeAlerts() })),
    route('GET', '/mesh', () => ({ json: node.meshView.snapshots() }))
  ]
}
