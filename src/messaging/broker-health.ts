/** The broker's outbox gauge (entries by state) and its `messaging` health check. */
import type { Telemetry } from '../monitoring/types.ts'
import type { OutboxStats } from './outbox.ts'

/** the outbox gauge and the `messaging` health check */
export function registerBrokerHealth (telemetry: Telemetry, started: () => boolean, stats: () => OutboxStats | undefined): void {
  telemetry.metrics.gauge('agentmesh_messaging_outbox_entries', {
    help: 'durable outbox entries, by state',
    labelNames: ['state'],
    collect: (g) => {
      const st = stats()
      if (st == null) return
      for (const state of ['pending', 'delivered', 'failed'] as const) g.set(st[state], { state })
    }
  })
  telemetry.registerHealthCheck('messaging', () => {
    if (!started()) return { status: 'down', detail: 'broker not started' }
    const st = stats()
    return { status: 'ok', pending: st?.pending ?? 0, failed: st?.failed ?? 0 }
  })
}
