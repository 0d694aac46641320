/**
 * Leases between peers whose wall clocks disagree (in-process peers over libp2p on 127.0.0.1, each
 * with its own skewed clock): lease expiry is the leader's judgement by the leader's time, whatever
 * the holder's clock says, and a wall clock stepped while the peers run moves no lease.
 * Before lease-time.ts, a holder whose clock ran behind the leader's had its kept-alive lease
 * expired at once (its agents would be placed elsewhere while it still served them), one ahead
 * held a lease minutes past its last renewal, and a leader whose clock stepped forward expired
 * every lease.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p, NetworkManager } from '../../src/network/index.ts'
import { ConsensusManager } from '../../src/consensus/index.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { systemClock, type Clock } from '../../src/util/clock.ts'
import { waitUntil } from '../helpers/processes.ts'

/** the system clock with a wall-clock offset the test may step */
class OffsetClock implements Clock {
  constructor (public offsetMs: number) {}
  now (): number { return systemClock.now() + this.offsetMs }
  monotonic (): number { return systemClock.monotonic() }
  setTimeout (fn: () => void, ms: number): ReturnType<Clock['setTimeout']> { return systemClock.setTimeout(fn, ms) }
  clearTimeout (h: ReturnType<Clock['setTimeout']> | undefined): void { systemClock.clearTimeout(h) }
  setInterval (fn: () => void, ms: number): ReturnType<Clock['setInterval']> { return systemClock.setInterval(fn, ms) }
  clearInterval (h: ReturnType<Clock['setInterval']> | undefined): void { systemClock.clearInterval(h) }
}

interface Peer {
  id: string
  clock: OffsetClock
  consensus: ConsensusManager
  stop: () => Promise<void>
  addrs: () => string[]
}

async function startPeer (offsetMs: number, role: 'relay' | 'node', bootstrap?: string[]): Promise<Peer> {
  const key = await generateKeyPair('Ed25519')
  const clock = new OffsetClock(offsetMs)
  const mesh = 'lease-skew'
  const libp2p = await createMeshLibp2p({ privateKey: key, mesh, role, host: '127.0.0.1', port: 0, bootstrap })
  const network = new NetworkManager({ libp2p, privateKey: key, clock }, { mesh, role, raft: 'voter', bootstrap })
  await network.start()
  const consensus = new ConsensusManager({ libp2p, network, store: new MemoryStore(), clock }, { joining: bootstrap !== undefined })
  await consensus.start()
  return {
    id: libp2p.peerId.toString(),
    clock,
    consensus,
    addrs: () => libp2p.getMultiaddrs().map(a => a.toString()),
    stop: async () => { await consensus.stop(); await network.stop(); await libp2p.stop() }
  }
}

function leaderOf (peers: Peer[]): Peer | undefined {
  const leaders = new Set(peers.map(p => p.consensus.status().leader))
  return leaders.size === 1 ? peers.find(p => p.id === [...leaders][0]) : undefined
}

describe('leases between peers with skewed clocks', { timeout: 180_000 }, () => {
  let peers: Peer[] = []

  before(async () => {
    // a minute behind, on time, five minutes ahead: whoever leads, the others are off from it
    const relay = await startPeer(0, 'relay')
    peers = [relay, await startPeer(-60_000, 'node', relay.addrs()), await startPeer(300_000, 'node', relay.addrs())]
    await waitUntil(() => leaderOf(peers) !== undefined && peers.every(p => p.consensus.status().voters.length === 3), 60_000, 'a group of 3 with a leader')
  })

  after(async () => {
    await Promise.allSettled(peers.map(async p => { await p.stop() }))
  })

  it('a holder behind the leader keeps its lease by renewing it; one ahead loses it soon after it stops', async () => {
    const leader = leaderOf(peers)!
    for (const holder of peers.filter(p => p !== leader)) {
      const behind = holder.clock.offsetMs < leader.clock.offsetMs
      const key = `held-by-${holder.id.slice(-6)}`
      if (behind) {
        // renewed every 500 ms for 3 s with a 10 s ttl: never expired, whatever the holder's clock says
        const lease = await holder.consensus.kv.grantLease(10_000)
        await holder.consensus.kv.put(key, 'here', { lease: lease.id })
        const until = performance.now() + 3000
        while (performance.now() < until) {
          await holder.consensus.kv.keepAlive(lease.id)
          await new Promise(resolve => setTimeout(resolve, 500))
        }
        assert.equal((await leader.consensus.kv.get(key))?.value, 'here', `the lease of a holder ${leader.clock.offsetMs - holder.clock.offsetMs} ms behind the leader survived`)
        await holder.consensus.kv.revoke(lease.id)
      } else {
        // a 3 s lease never renewed: gone within seconds, not when the holder's clock says (5 min
        // ahead). Not 1 s: the put under it must commit before it lapses, which at load took ~1 s
        const lease = await holder.consensus.kv.grantLease(3000)
        await holder.consensus.kv.put(key, 'here', { lease: lease.id })
        await waitUntil(async () => (await leader.consensus.kv.get(key)) === undefined, 15_000,
          `the lease of a holder ${holder.clock.offsetMs - leader.clock.offsetMs} ms ahead of the leader to expire`)
      }
    }
  })

  it('wall clocks stepped while the peers run (the leader forward, a holder back) move no lease', async () => {
    const leader = leaderOf(peers)!
    const holder = peers.find(p => p !== leader)!
    const lease = await holder.consensus.kv.grantLease(10_000)
    await holder.consensus.kv.put('stepped', 'here', { lease: lease.id })
    leader.clock.offsetMs += 10 * 60_000
    holder.clock.offsetMs -= 10 * 60_000
    const until = performance.now() + 3000
    while (performance.now() < until) {
      await holder.consensus.kv.keepAlive(lease.id)
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    assert.equal((await leader.consensus.kv.get('stepped'))?.value, 'here', 'the renewed lease outlived both steps')
    // and unrenewed, it still ends after its ttl of real time (3 s: the put under it must land first)
    const short = await holder.consensus.kv.grantLease(3000)
    await holder.consensus.kv.put('stepped-short', 'here', { lease: short.id })
    await waitUntil(async () => (await leader.consensus.kv.get('stepped-short')) === undefined, 15_000, 'the unrenewed lease to expire')
  })
})
