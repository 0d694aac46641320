import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { startRelay } from '../../relay/index.ts'
import { createNode } from '../../src/node.ts'
import { waitFor } from './harness.ts'

describe('startRelay', () => {
  it('runs a relay peer with its admin API that Node peers join through', async () => {
    const relay = await startRelay({ port: 0, httpPort: 0, mesh: 'relay-test' })
    const peer = await createNode({ mesh: 'relay-test', bootstrap: relay.multiaddrs.filter(a => a.includes('/ws/')) })
    try {
      await waitFor(() => relay.node.network.member(peer.peerId)?.status === 'alive', 15_000, 'the peer to join')
      const self = await (await fetch(relay.http + '/node')).json() as { role: string, peerId: string }
      assert.deepEqual([self.role, self.peerId], ['relay', relay.peerId])
      assert.ok(relay.node.libp2p.services.relay != null, 'circuit-relay-v2 server running')
    } finally {
      await peer.stop()
      await relay.stop()
      await relay.stop()
    }
  })
})
