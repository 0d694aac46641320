/**
 * The `network` health component (GET /health, the dashboard's peer table). A peer with a
 * bootstrap list needs a bootstrap peer (its relay), not merely some connection: tabs reach Node
 * peers through the relay and the relay is usually a Raft voter. So it is degraded with no
 * connection at all, and also while it keeps other links but no bootstrap peer is connected
 * (BootstrapKeeper redials meanwhile); the detail says which, since when and how often it tried.
 */
import type { HealthResult } from '../monitoring/types.ts'
import type { BootstrapStatus } from './bootstrap-keeper.ts'

export interface NetworkHealth extends HealthResult {
  status: 'ok' | 'degraded'
  detail?: string
  connections: number
  members: number
  /** while degraded for the bootstrap list: how long none has been connected, ms (absent: never yet) */
  bootstrapLostForMs?: number
}

export function networkHealth (s: { connections: number, members: number, bootstrap: BootstrapStatus }): NetworkHealth {
  const { connections, members, bootstrap } = s
  if (bootstrap.configured === 0 || bootstrap.connected) return { status: 'ok', connections, members }
  const out: NetworkHealth = { status: 'degraded', connections, members }
  const since = bootstrap.lostForMs === undefined ? 'never connected yet' : `lost ${Math.round(bootstrap.lostForMs / 1000)} s ago`
  const tries = bootstrap.attempts === 0 ? '' : `; ${bootstrap.attempts} dial attempt${bootstrap.attempts === 1 ? '' : 's'}${bootstrap.lastError !== undefined ? `, last: ${bootstrap.lastError.slice(0, 200)}` : ''}`
  out.detail = connections === 0
    ? `not connected to any peer (no bootstrap peer: ${since}${tries})`
    : `no bootstrap peer connected (${since}${tries}); ${connections} other connection${connections === 1 ? '' : 's'} kept`
  if (bootstrap.lostForMs !== undefined) out.bootstrapLostForMs = bootstrap.lostForMs
  return out
}
