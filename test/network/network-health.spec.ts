/**
 * The `network` health component: a peer with a bootstrap list is degraded with no connection at
 * all, and also when it keeps other links but lost every bootstrap peer (its relay); the detail
 * says which, since when, and how the redials went. A peer without a bootstrap list (a relay) is
 * ok alone.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { networkHealth } from '../../src/network/network-health.ts'

describe('network health', () => {
  it('ok with a bootstrap peer connected, and for a peer without a bootstrap list even alone', () => {
    assert.deepEqual(networkHealth({ connections: 3, members: 3, bootstrap: { configured: 1, connected: true, attempts: 0 } }),
      { status: 'ok', connections: 3, members: 3 })
    assert.equal(networkHealth({ connections: 0, members: 0, bootstrap: { configured: 0, connected: false, attempts: 0 } }).status, 'ok')
  })

  it('degraded when the relay is lost though another link is kept, saying since when and how the redials went', () => {
    const h = networkHealth({ connections: 2, members: 3, bootstrap: { configured: 1, connected: false, lostForMs: 12_400, attempts: 3, lastError: 'connection refused' } })
    assert.equal(h.status, 'degraded')
    assert.equal(h.detail, 'no bootstrap peer connected (lost 12 s ago; 3 dial attempts, last: connection refused); 2 other connections kept')
    assert.equal(h.bootstrapLostForMs, 12_400)
  })

  it('degraded with no connection at all, whether a bootstrap peer was ever reached or not', () => {
    const never = networkHealth({ connections: 0, members: 0, bootstrap: { configured: 2, connected: false, attempts: 1, lastError: 'timed out' } })
    assert.equal(never.status, 'degraded')
    assert.equal(never.detail, 'not connected to any peer (no bootstrap peer: never connected yet; 1 dial attempt, last: timed out)')
    assert.equal(never.bootstrapLostForMs, undefined)
    const lost = networkHealth({ connections: 0, members: 4, bootstrap: { configured: 1, connected: false, lostForMs: 1000, attempts: 0 } })
    assert.equal(lost.detail, 'not connected to any peer (no bootstrap peer: lost 1 s ago)')
  })
})
