/**
 * A peer whose dial failed is not dialled again at every discovery event (every 2 s from each
 * announcing peer): the next attempt waits 2 s, then 4 s, ... up to 30 s. Retrying a dial that
 * cannot finish only loads the peers in between (the relay, for tabs).
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { startPeer, waitFor, type TestPeer } from './harness.ts'

describe('dial backoff', () => {
  let peer: TestPeer | undefined
  after(async () => { await peer?.stop() })

  it('a peer that could not be dialled is tried again only after a growing pause', async () => {
    peer = await startPeer({ role: 'node' }, 'backoff')
    const lp = peer.network.libp2p
    const target = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const attempts: number[] = []
    const dial = lp.dial.bind(lp)
    lp.dial = (async (...args: Parameters<typeof dial>) => {
      if (String(args[0]).includes(target.toString())) attempts.push(Date.now())
      return await dial(...args)
    }) as typeof lp.dial
    // nothing listens on port 1: each dial is refused at once
    const announce = (): void => { lp.dispatchEvent(new CustomEvent('peer:discovery', { detail: { id: target, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1')] } })) }
    const started = Date.now()
    announce()
    await waitFor(() => attempts.length === 1, 5000, 'the first dial')
    // announced again and again (as pubsub discovery does): the second dial waits ~2 s, the third ~4 s more
    while (attempts.length < 3 && Date.now() - started < 20_000) {
      announce()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    assert.equal(attempts.length, 3, `three dials in 20 s, not one per announcement (${attempts.map(t => t - started).join(', ')} ms)`)
    assert.ok(attempts[1] - attempts[0] >= 2000, `second dial ${attempts[1] - attempts[0]} ms after the first`)
    assert.ok(attempts[2] - attempts[1] >= 4000, `third dial ${attempts[2] - attempts[1]} ms after the second`)
  })
})
