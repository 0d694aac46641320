/**
 * Heartbeats apart from records: between changes a peer publishes only a small signed heartbeat,
 * and a peer that lacks a record (it restarted, or missed one) asks for it and gets it at once
 * rather than at the next slow refresh.
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Message } from '@libp2p/gossipsub'
import { MembershipMessageType, nextIncarnation, nodesTopic } from '../../src/network/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { OffsetClock } from '../helpers/offset-clock.ts'
import { relayAddr, startPeer, waitFor, type TestPeer } from './harness.ts'

const MESH = 'hb'
/** long enough that only a change, a join or a request can bring a record within a test */
const REFRESH_MS = 120_000

describe('heartbeats and records', () => {
  const peers: TestPeer[] = []
  after(async () => { await Promise.all(peers.map(async p => { await p.stop().catch(() => {}) })) })

  /** a relay and a peer A bootstrapped through it */
  async function relayAndA (): Promise<{ relay: TestPeer, a: TestPeer, bootstrap: string[] }> {
    const relay = await startPeer({ role: 'relay', recordRefreshMs: REFRESH_MS }, MESH)
    peers.push(relay)
    const bootstrap = [relayAddr(relay)]
    const a = await startPeer({ bootstrap, recordRefreshMs: REFRESH_MS }, MESH)
    peers.push(a)
    return { relay, a, bootstrap }
  }

  it('a settled peer sends heartbeats, not its full record, and others still see its load', async () => {
    const relay = await startPeer({ role: 'relay', recordRefreshMs: REFRESH_MS }, MESH)
    peers.push(relay)
    const a = await startPeer({ bootstrap: [relayAddr(relay)], recordRefreshMs: REFRESH_MS, loadSource: () => ({ cpu: 0.75 }) }, MESH)
    peers.push(a)
    await waitFor(() => relay.network.member(a.network.peerId)?.status === 'alive', 10_000, 'the relay to see A')
    // count what A publishes, as the relay receives it, once A has settled (its links no longer change)
    const counts = { record: 0, heartbeat: 0 }
    let counting = false
    const onMessage = (evt: CustomEvent<Message>): void => {
      const msg = evt.detail
      if (!counting || msg.topic !== nodesTopic(MESH) || msg.type !== 'signed' || !msg.from.equals(a.network.libp2p.peerId)) return
      // [major, minor, type, ...]: each a one-byte varint here
      if (msg.data[2] === MembershipMessageType.Record) counts.record++
      if (msg.data[2] === MembershipMessageType.Heartbeat) counts.heartbeat++
    }
    relay.network.libp2p.services.pubsub.addEventListener('message', onMessage)
    try {
      let links = ''
      await waitFor(() => {
        const now = JSON.stringify(a.network.localRecord().links)
        const same = now === links
        links = now
        return same && a.network.localRecord().links.length > 0
      }, 10_000, 'A\'s links to settle')
      counting = true
      await waitFor(() => counts.heartbeat >= 8, 20_000, 'eight heartbeats from A')
      counting = false
    } finally {
      relay.network.libp2p.services.pubsub.removeEventListener('message', onMessage)
    }
    assert.ok(counts.record <= 1, `A republished its unchanged record ${counts.record} times in ${counts.heartbeat} beats`)
    assert.equal(relay.network.member(a.network.peerId)?.record.load.cpu, 0.75, 'the load arrives with the heartbeats')
    assert.equal(relay.network.member(a.network.peerId)?.status, 'alive')
  })

  it('a restarted peer (same key, new incarnation) lists everyone again within seconds, not at the slow refresh', async () => {
    const { relay, a, bootstrap } = await relayAndA()
    const key = await generateKeyPair('Ed25519')
    const b1 = await startPeer({ bootstrap, recordRefreshMs: REFRESH_MS }, MESH, { privateKey: key })
    await waitFor(() => b1.network.member(a.network.peerId)?.status === 'alive' && a.network.member(b1.network.peerId)?.status === 'alive', 10_000, 'A and B to see each other')
    await b1.stop()
    await waitFor(() => a.network.member(b1.network.peerId)?.status === 'failed', 10_000, 'A to see B leave')

    // the same peer again (same key, a new incarnation): the others see it come back, not join,
    // so nothing makes them republish; it must ask
    const b2 = await startPeer({ bootstrap, recordRefreshMs: REFRESH_MS }, MESH, { privateKey: key })
    peers.push(b2)
    await waitFor(() => a.network.member(b2.network.peerId)?.status === 'alive', 10_000, 'A to see B back')
    await waitFor(() => b2.network.member(a.network.peerId)?.status === 'alive' && b2.network.member(relay.network.peerId)?.status === 'alive',
      10_000, 'the restarted B to hold A\'s and the relay\'s records')
    assert.equal(b2.network.member(a.network.peerId)?.record.addrs.length !== 0, true, 'with their addresses')
  })

  it('a peer restarted with its wall clock set back is admitted again (its incarnation still grows)', async () => {
    const { relay, a, bootstrap } = await relayAndA()
    const key = await generateKeyPair('Ed25519')
    // B's own store, kept across its restart as a data dir is
    const store = new MemoryStore()
    const clock = new OffsetClock()
    const b1 = await startPeer({ bootstrap, recordRefreshMs: REFRESH_MS, incarnation: await nextIncarnation(store, clock) }, MESH, { privateKey: key, clock })
    await waitFor(() => a.network.member(b1.network.peerId)?.status === 'alive', 10_000, 'A to see B')
    await b1.crash()
    await waitFor(() => a.network.member(b1.network.peerId)?.status === 'failed', 15_000, 'A to see B fail')

    // back a minute behind: its start time is below the one A holds for it as failed
    clock.offsetMs = -60_000
    const incarnation = await nextIncarnation(store, clock)
    assert.ok(incarnation > (a.network.member(b1.network.peerId)?.record.incarnation ?? Infinity), 'above the last start however the clock was set')
    const b2 = await startPeer({ bootstrap, recordRefreshMs: REFRESH_MS, incarnation }, MESH, { privateKey: key, clock })
    peers.push(b2)
    await waitFor(() => a.network.member(b2.network.peerId)?.status === 'alive' && relay.network.member(b2.network.peerId)?.status === 'alive',
      15_000, 'A and the relay to see B back')
  })
})
