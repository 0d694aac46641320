/**
 * Two tabs learn each other's /webrtc address at about the same moment. When both dialled, every
 * pair of tabs held two relayed connections and two RTCPeerConnections. Now only the tab with the
 * lower peer id dials at once; the other dials only if no direct link is up TAB_DIAL_YIELD_MS later.
 * The dialer runs here over a stand-in libp2p (it records dials) and a manual clock.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { Dialer } from '../../src/network/dialer.ts'
import { DIAL_BACKOFF_MIN_MS, TAB_DIAL_YIELD_MS } from '../../src/network/constants.ts'
import type { MeshLibp2p } from '../../src/network/libp2p.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'
import type { NodeRole } from '../../src/network/types.ts'

const RELAY = '/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWQdbirDNJJfXB9wURKptaXmNYRJpFKdrE2Sj4ik6fiPQx'

async function peerIds (n: number): Promise<PeerId[]> {
  const ids = await Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
  return ids.sort((a, b) => a.toString() < b.toString() ? -1 : 1)
}

/** a dialer over a stand-in libp2p whose dials hang until `connect` opens a direct connection */
function dialerFor (self: PeerId, role: NodeRole): {
  dialer: Dialer, clock: ManualClock, dials: string[], connect: (peer: PeerId) => void, stop: AbortController
  /** dials fail from now on (at once) instead of hanging */
  failDials: () => void
  /** resolves once every failed dial has been handled */
  settled: () => Promise<void>
} {
  const clock = new ManualClock(1000)
  const dials: string[] = []
  const open = new Set<string>()
  let fail = false
  const pending: Array<Promise<unknown>> = []
  const libp2p = {
    getConnections: (peer?: PeerId) => peer != null && open.has(peer.toString()) ? [{ status: 'open', limits: undefined, remotePeer: peer }] : [],
    dial: async (targets: unknown) => {
      dials.push((Array.isArray(targets) ? targets : [targets]).map(String).join(' '))
      if (fail) {
        const refused = Promise.reject(new Error('refused'))
        pending.push(refused.catch(() => {}))
        return await refused
      }
      return await new Promise(() => {})
    }
  } as unknown as MeshLibp2p
  const stop = new AbortController()
  const dialer = new Dialer({ libp2p, peerId: self.toString(), role, clock, log: componentLogger('test:tab-dial-yield'), stopSignal: stop.signal, started: () => !stop.signal.aborted })
  return {
    dialer, clock, dials, connect: (peer) => { open.add(peer.toString()) }, stop,
    failDials: () => { fail = true },
    // the dialer's own handlers run after the refusal: a few turns of the event loop
    settled: async () => { await Promise.all(pending); await new Promise(resolve => setImmediate(resolve)) }
  }
}

const tabInfo = (peer: PeerId): { id: PeerId, multiaddrs: ReturnType<typeof multiaddr>[] } =>
  ({ id: peer, multiaddrs: [multiaddr(`${RELAY}/p2p-circuit/webrtc/p2p/${peer.toString()}`)] })

/** the tab with the higher id, just told of the lower one's /webrtc address (its dials refused at once with `failing`) */
async function higherTabHearsOfLower (options: { failing?: boolean } = {}): Promise<{ low: PeerId, highSide: ReturnType<typeof dialerFor> }> {
  const [low, high] = await peerIds(2)
  const highSide = dialerFor(high, 'browser')
  if (options.failing === true) highSide.failDials()
  highSide.dialer.maybeDial(tabInfo(low))
  return { low, highSide }
}

describe('tab-to-tab dials', () => {
  it('the tab with the lower peer id dials at once; the other waits and, once the link is up, never dials', async () => {
    const [low, high] = await peerIds(2)
    const lowSide = dialerFor(low, 'browser')
    const highSide = dialerFor(high, 'browser')
    lowSide.dialer.maybeDial(tabInfo(high))
    highSide.dialer.maybeDial(tabInfo(low))
    assert.equal(lowSide.dials.length, 1, 'the lower id dials the other tab at once')
    assert.match(lowSide.dials[0], /\/webrtc\//)
    assert.equal(highSide.dials.length, 0, 'the higher id does not dial at once')
    // announced again (records, discovery): still no dial, and one pending timer, not one per call
    highSide.dialer.maybeDial(tabInfo(low))
    assert.equal(highSide.dialer.deferredDials, 1)
    // the lower one's dial arrives: a direct link
    highSide.connect(low)
    highSide.clock.advance(TAB_DIAL_YIELD_MS)
    assert.equal(highSide.dials.length, 0, 'no second connection once the other tab linked to us')
    assert.equal(highSide.dialer.deferredDials, 0)
  })

  it('the higher id dials after TAB_DIAL_YIELD_MS when the other tab never linked', async () => {
    const { low, highSide } = await higherTabHearsOfLower()
    highSide.clock.advance(TAB_DIAL_YIELD_MS - 1)
    assert.equal(highSide.dials.length, 0)
    highSide.clock.advance(1)
    assert.equal(highSide.dials.length, 1, 'dialled once the wait is over')
    assert.match(highSide.dials[0], new RegExp(`/webrtc/p2p/${low.toString()}`))
  })

  it('once it has waited, the higher id retries a failed dial with the usual backoff, not another wait', async () => {
    const { low, highSide } = await higherTabHearsOfLower({ failing: true })
    highSide.clock.advance(TAB_DIAL_YIELD_MS)
    assert.equal(highSide.dials.length, 1)
    await highSide.settled()
    // the next announcement after the backoff (2 s) dials at once
    highSide.clock.advance(DIAL_BACKOFF_MIN_MS)
    highSide.dialer.maybeDial(tabInfo(low))
    assert.equal(highSide.dials.length, 2, 'retried at once, not after another TAB_DIAL_YIELD_MS')
    assert.equal(highSide.dialer.deferredDials, 0)
  })

  it('a stopped network manager leaves no deferred dial behind', async () => {
    const { highSide } = await higherTabHearsOfLower()
    highSide.stop.abort()
    assert.equal(highSide.dialer.deferredDials, 0)
    highSide.clock.advance(TAB_DIAL_YIELD_MS * 2)
    assert.equal(highSide.dials.length, 0)
  })

  it('peers reachable over WebSockets are dialled at once whatever their id', async () => {
    const [low, high] = await peerIds(2)
    const tab = dialerFor(high, 'browser')
    tab.dialer.maybeDial({ id: low, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/9091/ws/p2p/${low.toString()}`)] })
    assert.equal(tab.dials.length, 1, 'a tab dials a Node peer with a lower id at once')
    const node = dialerFor(high, 'node')
    node.dialer.maybeDial({ id: low, multiaddrs: [multiaddr(`/ip4/127.0.0.1/tcp/9092/p2p/${low.toString()}`)] })
    assert.equal(node.dials.length, 1, 'a Node peer dials at once')
  })
})
