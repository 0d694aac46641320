/**
 * A peer with a bootstrap list keeps a bootstrap peer connected, not only "some" connection. Seen
 * in failover-processes setup at load ~25: a Node peer lost its connection to the relay (its
 * bootstrap peer) while it kept one to another Node peer; the probe of the relay failed, the relay
 * was marked failed, and since the peer was not alone nothing dialled the relay again, so the tabs
 * behind the relay and the relay's Raft vote stayed out of its reach for the 60 s the setup waited.
 * Here the relay closes its connection to one node and hangs up on that node's dials for REFUSE_MS
 * (so the probe fails) while the node stays connected to the other node; the node must be
 * connected to the relay again soon after the relay accepts it.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Connection } from '@libp2p/interface'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { FAILURE_CHECK_INTERVAL_MS } from '../../src/network/constants.ts'

/** how long the relay hangs up on the node's new connections (longer than its probe of the relay) */
const REFUSE_MS = 3000

describe('bootstrap keep', () => {
  const peers: TestPeer[] = []
  after(async () => { await Promise.all(peers.map(async p => { await p.stop() })) })

  it('a peer that lost its bootstrap relay but kept another connection dials the relay again', { timeout: 90_000 }, async () => {
    const relay = await startPeer({ role: 'relay' }, 'keep')
    peers.push(relay)
    const a = await startPeer({ role: 'node', bootstrap: [relayAddr(relay)] }, 'keep')
    peers.push(a)
    const b = await startPeer({ role: 'node', bootstrap: [relayAddr(relay)] }, 'keep')
    peers.push(b)
    const relayId = relay.network.libp2p.peerId
    const aId = a.network.libp2p.peerId
    const bId = b.network.libp2p.peerId
    const connected = (p: TestPeer, to: typeof relayId): boolean => p.network.libp2p.getConnections(to).some(c => c.status === 'open')
    await waitFor(() => connected(a, relayId) && connected(b, relayId) && connected(a, bId), 30_000, 'node a to be connected to the relay and to node b')

    let refusing = true
    let hungUp = 0
    const onOpen = (evt: CustomEvent<Connection>): void => {
      if (!refusing || !evt.detail.remotePeer.equals(aId)) return
      hungUp++
      void evt.detail.close().catch(() => {})
    }
    relay.network.libp2p.addEventListener('connection:open', onOpen)
    try {
      // the relay side closes its connection(s) to node a
      await Promise.all(relay.network.libp2p.getConnections(aId).map(async c => { await c.close().catch(() => {}) }))
      await waitFor(() => !connected(a, relayId), 20_000, 'node a to see its relay connection closed')
      assert.ok(connected(a, bId), 'node a kept its connection to node b (it is not alone)')
      const refusedUntil = Date.now() + REFUSE_MS
      await waitFor(() => Date.now() >= refusedUntil, REFUSE_MS + 5000, 'the refusal window to end')
    } finally {
      refusing = false
      relay.network.libp2p.removeEventListener('connection:open', onOpen)
    }
    await waitFor(() => connected(a, relayId), 30_000,
      `node a to be connected to the relay again (${hungUp} of its connections hung up; its connections: ${a.network.libp2p.getConnections().map(c => c.remotePeer.toString()).join(', ')})`)
  })

  it('stop() while a bootstrap redial is pending leaves no timer behind', { timeout: 60_000 }, async () => {
    const relay = await startPeer({ role: 'relay' }, 'keep-stop')
    peers.push(relay)
    const clock = new ManualClock(0)
    const node = await startPeer({ role: 'node', bootstrap: [relayAddr(relay)] }, 'keep-stop', clock)
    const relayId = relay.network.libp2p.peerId
    const connected = (): boolean => node.network.libp2p.getConnections(relayId).some(c => c.status === 'open')
    try {
      await waitFor(connected, 30_000, 'the node to connect to the relay')
      // the relay goes away for good: the node's redials fail and one is always pending
      await relay.stop()
      await waitFor(() => !connected(), 20_000, 'the node to see its relay connection closed')
      for (let i = 0; i < 50; i++) clock.advance(FAILURE_CHECK_INTERVAL_MS)
    } finally {
      await node.stop()
    }
    assert.equal(clock.pendingTimers, 0, 'timers left after stop()')
  })
})
