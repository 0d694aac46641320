import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { peerIdFromString } from '@libp2p/peer-id'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'

describe('a relay and three Node peers', () => {
  let relay: TestPeer
  const peers: TestPeer[] = []

  before(async () => {
    relay = await startPeer({ role: 'relay' })
    const bootstrap = [relayAddr(relay)]
    for (let i = 0; i < 3; i++) {
      peers.push(await startPeer({ bootstrap, capabilities: { cpu: i + 1, memoryMb: 256 * (i + 1), tags: i === 0 ? ['llm'] : [] } }))
    }
  })

  after(async () => {
    await Promise.all([relay, ...peers].map(async p => { await p.stop().catch(() => {}) }))
  })

  it('discover each other and agree on membership with capabilities', async () => {
    const all = [relay, ...peers]
    await waitFor(() => all.every(p => p.network.aliveMembers().length === 3), 15_000, 'full membership')
    for (const p of all) {
      const ids = new Set(p.network.aliveMembers().map(m => m.peerId))
      for (const q of all) if (q !== p) assert.ok(ids.has(q.network.peerId))
    }
    const seenBy2 = peers[2].network.member(peers[0].network.peerId)
    assert.deepEqual(seenBy2?.record.capabilities, { cpu: 1, memoryMb: 256, tags: ['llm'] })
    assert.equal(peers[0].network.member(relay.network.peerId)?.record.role, 'relay')
  })

  it('agree on the topology: every Node peer is linked directly to the others over tcp or websockets', async () => {
    await waitFor(() => peers.every(p => p.network.getTopology().edges.length >= 6), 15_000, 'full topology')
    for (const p of peers) await p.network.updateTopology()
    const t = await relay.network.updateTopology()
    assert.equal(t.nodes.length, 4)
    for (const e of t.edges) assert.ok(['tcp', 'websockets'].includes(e.transport), `edge transport ${e.transport}`)
    const a = peers[0].network.peerId; const b = peers[1].network.peerId
    assert.ok(t.edges.some(e => (e.from === a && e.to === b) || (e.from === b && e.to === a)))
  })

  it('discoverNodes returns every peer found, and records carry each peer\'s load', async () => {
    const found = await peers[0].network.discoverNodes()
    for (const q of [relay, peers[1], peers[2]]) assert.ok(found.includes(q.network.peerId))
    const load = peers[0].network.member(peers[1].network.peerId)?.record.load
    assert.ok(load != null && load.rssMb > 0, 'memory in the load snapshot')
    assert.equal(load.agents, 0)
    assert.ok(load.eventLoopLagMs >= 0)
  })

  it('handleNodeFailure probes: a live peer stays alive, a stopped one is failed and announced', async () => {
    assert.equal(await peers[0].network.handleNodeFailure(peers[1].network.peerId), 'alive')
    const extra = await startPeer({ bootstrap: [relayAddr(relay)] })
    try {
      const id = extra.network.peerId
      await waitFor(() => peers.every(p => p.network.member(id)?.status === 'alive'), 15_000, 'the extra peer to join')
      const failedAt = new Map<string, string>()
      for (const p of peers) {
        p.network.addEventListener('node:failed', (e) => { if (e.detail.peerId === id) failedAt.set(p.network.peerId, e.detail.reason ?? '') })
      }
      await extra.crash()
      // every peer learns it: by its own probe of the closed connection, or by another's report
      await waitFor(() => failedAt.size === peers.length, 10_000, 'every peer to see the crash')
      assert.equal(await peers[0].network.handleNodeFailure(id), 'failed')
      for (const reason of failedAt.values()) assert.match(reason, /unreachable|reported by/)
    } finally {
      // however the test ends: an extra peer left running (the join timed out once at load 25) kept
      // redialling the stopped relay, and the file, so the whole run, never exited
      await extra.stop().catch(() => {})
    }
  })

  it('a probe pings a live peer while another ping (the connection monitor\'s) is open on the same connection', async () => {
    const libp2p = peers[0].network.libp2p
    const target = peers[1].network.peerId
    // The held stream stands in for the monitor's ping, but the real monitor pings too (every 10 s):
    // when its ping falls in this window it is a third outbound stream, refused, and the monitor
    // aborts the connection under the test's ping. That is the test's own extra stream, not what
    // a peer does (the monitor and one probe at a time); the scenario then runs on a new connection
    for (let attempt = 1; ; attempt++) {
      await waitFor(() => libp2p.getConnections(peerIdFromString(target)).some(c => c.status === 'open'), 10_000, 'an open connection to the target')
      const conn = libp2p.getConnections(peerIdFromString(target)).find(c => c.status === 'open')!
      // the monitor's ping, held open as one is while its answer is slow at load
      const held = await conn.newStream('/ipfs/ping/1.0.0')
      try {
        await libp2p.services.ping.ping(conn.remoteAddr)
        // the probe, while the held ping is still open
        assert.equal(await peers[0].network.handleNodeFailure(target), 'alive')
        break
      } catch (err) {
        if (err instanceof assert.AssertionError || conn.status === 'open' || attempt === 3) throw err
      } finally {
        held.abort(new Error('test done'))
      }
    }
  })

  it('a ping that breaks on an open connection does not fail a live peer: a fresh dial decides', async () => {
    const ping = peers[0].network.libp2p.services.ping
    const original = ping.ping.bind(ping)
    let broken = 0
    ping.ping = async (...args: Parameters<typeof original>) => {
      // the first ping dies as one does when the other side resets the link mid-probe
      if (broken++ === 0) throw new Error('Unexpected EOF')
      return await original(...args)
    }
    try {
      const target = peers[1].network.peerId
      assert.equal(await peers[0].network.handleNodeFailure(target), 'alive')
      assert.equal(broken, 2, 'the probe pinged again over a fresh connection')
      assert.equal(peers[0].network.member(target)?.status, 'alive')
    } finally {
      ping.ping = original
    }
  })

  it('a live peer whose fresh connection is slower than a ping\'s budget stays alive', async () => {
    const libp2p = peers[0].network.libp2p
    const ping = libp2p.services.ping
    const originalPing = ping.ping.bind(ping)
    const originalDial = libp2p.dial.bind(libp2p)
    let pings = 0
    let dials = 0
    ping.ping = async (...args: Parameters<typeof originalPing>) => {
      // the ping over the open connection breaks, so the probe dials afresh
      if (pings++ === 0) throw new Error('Unexpected EOF')
      return await originalPing(...args)
    }
    const target = peers[2].network.peerId
    // the fresh connection's handshakes take 800 ms, as on a loaded machine (the ping budget, 500
    // ms, used to cover them: the live peer was declared failed). The connection already open
    // stands in for the new one, so no real handshake (seconds at load 26) adds to the 800 ms
    libp2p.dial = async (...args: Parameters<typeof originalDial>) => {
      dials++
      await new Promise(resolve => setTimeout(resolve, 800))
      args[1]?.signal?.throwIfAborted()
      return await originalDial(peerIdFromString(target), { signal: args[1]?.signal })
    }
    try {
      assert.equal(await peers[0].network.handleNodeFailure(target), 'alive')
      assert.equal(dials, 1, 'the probe dialled afresh')
      assert.equal(peers[0].network.member(target)?.status, 'alive')
    } finally {
      ping.ping = originalPing
      libp2p.dial = originalDial
    }
  })

  it('a probe the caller aborts leaves the peer as it was', async () => {
    const target = peers[2].network.peerId
    const ping = peers[0].network.libp2p.services.ping
    const original = ping.ping.bind(ping)
    const controller = new AbortController()
    ping.ping = async () => { controller.abort(); throw new Error('aborted by the caller') }
    try {
      assert.equal(await peers[0].network.handleNodeFailure(target, { signal: controller.signal }), 'alive')
      assert.equal(peers[0].network.member(target)?.status, 'alive')
    } finally {
      ping.ping = original
    }
  })

  it('registerNode publishes new capabilities that every peer sees', async () => {
    const p = peers[1]
    await p.network.registerNode(p.network.peerId, undefined, { tags: ['gpu'] })
    await waitFor(() => [relay, peers[0], peers[2]].every(q => q.network.member(p.network.peerId)?.record.capabilities.tags.includes('gpu') === true), 5000, 'new capabilities')
    await assert.rejects(p.network.registerNode(peers[0].network.peerId), { name: 'InvalidArgumentError' })
  })
})
