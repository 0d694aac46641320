import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_ENVELOPE_BYTES } from '../../src/messaging/constants.ts'
import { encodeEnvelope } from '../../src/messaging/envelope.ts'
import { createMessageId } from '../../src/messaging/message-id.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'
import { gossipLinked, startPeer, waitFor } from './broker-peers.ts'
import type { Peer } from './broker-peers.ts'

const TOPIC = 'agentmesh/msgtest/v1/t/line'

describe('MessageBroker topic validation before forwarding', { timeout: 60_000 }, () => {
  // a line: A - B - C; C hears A's publications only through B
  let a: Peer
  let b: Peer
  let c: Peer
  const gotB: unknown[] = []
  const gotC: unknown[] = []

  before(async () => {
    a = await startPeer(undefined, 21, undefined, false)
    b = await startPeer(undefined, 22, undefined, false)
    c = await startPeer(undefined, 23, undefined, false)
    // the DHT may find C through B and dial it: A hangs up on any direct link to C, so C only
    // ever hears A through B (a link up for a moment would show as C rejecting something)
    a.libp2p.addEventListener('peer:connect', (evt) => {
      if (evt.detail.toString() === c.id) void a.libp2p.hangUp(evt.detail).catch(() => {})
    })
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
    await c.libp2p.dial(b.libp2p.getMultiaddrs()[0])
    b.broker.subscribe('line', m => { gotB.push(m.data) })
    c.broker.subscribe('line', m => { gotC.push(m.data) })
    await waitFor(() => a.libp2p.services.pubsub.getSubscribers(TOPIC).some(p => p.toString() === b.id) && gossipLinked(a, b), 10_000, 'A to see B subscribed')
    await waitFor(() => (b.libp2p.services.pubsub as unknown as { getMeshPeers: (t: string) => string[] }).getMeshPeers(TOPIC).includes(c.id) && gossipLinked(b, c), 10_000, 'C in B\'s mesh')
  })

  after(async () => {
    for (const p of [a, b, c]) { await p.broker.stop(); await p.libp2p.stop() }
  })

  it('rejects forged, oversized, malformed and non-message envelopes at the first hop; good ones go through', async () => {
    const count = (p: Peer, key: string): number => p.counts.get(key) ?? 0
    const rejected = (p: Peer): number => count(p, 'agentmesh_messaging_publications_validated_total{"result":"reject"}')
    const envelope = (over: Partial<Envelope>): Uint8Array => encodeEnvelope({
      kind: 'message', id: createMessageId(), sender: a.id, seq: 1, hlc: { wallMs: Date.now(), logical: 0 },
      traceparent: '', contentType: 'application/json', payload: new TextEncoder().encode('"bad"'), ...over
    } as Envelope)
    const raw = a.libp2p.services.pubsub
    await raw.publish(TOPIC, envelope({ sender: c.id }))                  // forged: claims C wrote it
    await raw.publish(TOPIC, new Uint8Array(MAX_ENVELOPE_BYTES + 1024))   // oversized
    await raw.publish(TOPIC, new Uint8Array([1, 0, 3, 9, 9, 9, 0]))       // not an envelope
    await raw.publish(TOPIC, envelope({ kind: 'request' }))               // an RPC request on a topic
    await waitFor(() => rejected(b) === 4, 10_000, 'B to reject all four')
    await a.broker.publishMessage('line', 'good')
    await waitFor(() => gotC.length === 1 && gotB.length === 1, 10_000, 'the good publication at B and C')

    assert.deepEqual(gotB, ['good'])
    assert.deepEqual(gotC, ['good'])
    assert.equal(count(b, 'agentmesh_messaging_dropped_total{"reason":"sender-mismatch"}'), 1)
    assert.equal(count(b, 'agentmesh_messaging_dropped_total{"reason":"MessageTooLargeError"}'), 1)
    assert.equal(count(b, 'agentmesh_messaging_dropped_total{"reason":"InvalidMessageError"}'), 1)
    assert.equal(count(b, 'agentmesh_messaging_dropped_total{"reason":"bad-kind"}'), 1)
    assert.equal(count(b, 'agentmesh_messaging_publications_validated_total{"result":"accept"}'), 1)
    // nothing bad ever reached C: its validator saw only the good publication
    assert.equal(rejected(c), 0)
    assert.equal(count(c, 'agentmesh_messaging_publications_validated_total{"result":"accept"}'), 1)
    assert.equal([...c.counts.keys()].filter(k => k.startsWith('agentmesh_messaging_dropped_total')).length, 0)
  })
})
