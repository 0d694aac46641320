/**
 * A peer whose first connection to its bootstrap relay closes before any node record arrived knows
 * no member to dial again; it must dial the bootstrap list again rather than stay alone. Seen in
 * minority-read.spec.ts at load ~25: node1 dialled the relay, the connection went away at once,
 * node1 reported "not connected to any peer" for the 90 s that followed and was never added to the
 * Raft group (`["none",0,null,0]`), the relay never having seen it. Here the relay hangs up on
 * every connection for the first REFUSE_MS; the peer must be a member on both sides soon after.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import type { Connection } from '@libp2p/interface'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'

/** how long the relay hangs up on every new connection (longer than the first dial and its retries take) */
const REFUSE_MS = 4000

describe('bootstrap redial', () => {
  const peers: TestPeer[] = []
  after(async () => { await Promise.all(peers.map(async p => { await p.stop() })) })

  it('a peer whose only connection closed before it learnt of any member dials its bootstrap list again', { timeout: 60_000 }, async () => {
    const relay = await startPeer({ role: 'relay' }, 'redial')
    peers.push(relay)
    let refusing = true
    let hungUp = 0
    const onOpen = (evt: CustomEvent<Connection>): void => {
      if (!refusing) return
      hungUp++
      void evt.detail.close().catch(() => {})
    }
    relay.network.libp2p.addEventListener('connection:open', onOpen)
    const node = await startPeer({ role: 'node', bootstrap: [relayAddr(relay)] }, 'redial')
    peers.push(node)
    await waitFor(() => hungUp > 0, 20_000, 'the node to dial the relay')
    await new Promise(resolve => setTimeout(resolve, REFUSE_MS))
    refusing = false
    relay.network.libp2p.removeEventListener('connection:open', onOpen)
    const nodeId = node.network.libp2p.peerId.toString()
    const relayId = relay.network.libp2p.peerId.toString()
    const member = (p: TestPeer, id: string): boolean => p.network.members().some(m => m.peerId === id && m.status === 'alive')
    await waitFor(() => member(relay, nodeId) && member(node, relayId), 20_000,
      `the node and the relay to see each other after the relay stopped hanging up (${hungUp} connections hung up; node connections: ${node.network.libp2p.getConnections().length})`)
    assert.ok(hungUp >= 1)
  })
})
