/**
 * Durable sends around a peer whose wall clock is off (issue 9, the skew fault scenario: 7 of 90
 * messages accepted with 202 were never delivered). Two real brokers on 127.0.0.1, the sender's
 * wall clock offset by an injected Clock (monotonic time and timers are the host's):
 *
 * - a sender stamped too far ahead is refused by the receiver's HLC. Before the fix the refusal
 *   was silent: every attempt waited out its ack timeout and counted, and the entry ran out of
 *   attempts and was marked failed: an accepted message lost. Now the receiver says why and for
 *   how long (error-reply, reason 'clock-skew'); the sender waits that long without counting an
 *   attempt, and the same envelope is taken once real time has caught up with its stamp.
 * - a sender far behind takes the receiver's ack (before, its HLC refused the ack: the message was
 *   handled, yet the sender retried it until it was marked failed).
 * - a sender that knows it is the mesh's clock outlier refuses new sends (ClockSkewError) and
 *   holds the deliveries it has, counting no attempt, until it agrees again and is woken.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p } from '../../src/network/index.ts'
import { MessageBroker } from '../../src/messaging/broker.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { OffsetClock } from '../helpers/offset-clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { testTelemetry } from './broker-peers.ts'
import { ClockSkewError } from '../../src/errors.ts'
import type { MeshLibp2p } from '../../src/network/index.ts'
import type { BrokerClockSkewSource, ReceivedMessage } from '../../src/messaging/broker-types.ts'

/** a clock verdict the test sets */
class Verdict implements BrokerClockSkewSource {
  outlier = false
  clockSkewStatus (): { outlier: boolean, offsetMs: number } { return { outlier: this.outlier, offsetMs: this.outlier ? -90_000 : 0 } }
}

interface SkewPeer { libp2p: MeshLibp2p, broker: MessageBroker, id: string, clock: OffsetClock, verdict: Verdict, got: ReceivedMessage[] }

/** few attempts with a short ack timeout: a sender that burns attempts on its clock fails in seconds */
const MAX_ATTEMPTS = 3

async function skewPeer (seed: number): Promise<SkewPeer> {
  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createMeshLibp2p({ privateKey, mesh: 'skewtest', role: 'node', host: '127.0.0.1', port: 0 })
  const clock = new OffsetClock()
  const verdict = new Verdict()
  const id = libp2p.peerId.toString()
  const broker = new MessageBroker({ libp2p, peerId: id, telemetry: testTelemetry(), store: new MemoryStore(), clock, rng: seededRng(seed), privateKey, clockSkew: verdict },
    { mesh: 'skewtest', deliveryRetry: { initialDelayMs: 20, maxDelayMs: 200, maxAttempts: MAX_ATTEMPTS }, ackTimeoutMs: 800 })
  await broker.start()
  const got: ReceivedMessage[] = []
  broker.setMessageHandler((m) => { got.push(m) })
  return { libp2p, broker, id, clock, verdict, got }
}

describe('durable sends around a clock-skewed peer', () => {
  let a: SkewPeer
  let b: SkewPeer

  before(async () => {
    a = await skewPeer(1)
    b = await skewPeer(2)
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
  })

  after(async () => {
    for (const p of [a, b]) {
      await p.broker.stop()
      await p.libp2p.stop()
    }
  })

  it('a message stamped too far ahead is held, not failed, and delivered once real time catches up with its stamp', async () => {
    b.got.length = 0
    // 3 s past the HLC's 60 s bound: the receiver refuses the stamp for ~3 s of real time
    a.clock.offsetMs = 63_000
    const sent = await a.broker.send({ kind: 'peer', id: b.id }, { n: 'ahead' })
    // the clock is set right at once; the stamp in the outbox (and a's HLC) stays 63 s ahead
    a.clock.offsetMs = 0
    const status = await a.broker.ensureDelivery(sent.id, { signal: AbortSignal.timeout(30_000) })
    assert.equal(status.state, 'delivered')
    assert.equal(status.attempts, 0, 'refusals for the sender\'s clock used up no attempt')
    assert.deepEqual(b.got.map(m => m.data), [{ n: 'ahead' }], 'handled once')
  })

  it('a sender far behind the receiver takes its ack', async () => {
    b.got.length = 0
    a.clock.offsetMs = -90_000
    try {
      const sent = await a.broker.send({ kind: 'peer', id: b.id }, { n: 'behind' })
      const status = await a.broker.ensureDelivery(sent.id, { signal: AbortSignal.timeout(20_000) })
      assert.equal(status.state, 'delivered')
      assert.deepEqual(b.got.map(m => m.data), [{ n: 'behind' }], 'handled once')
    } finally {
      a.clock.offsetMs = 0
    }
  })

  it('the clock outlier refuses new sends and holds the deliveries it has until it agrees again', async () => {
    b.got.length = 0
    // a message accepted just before the verdict came
    b.verdict.outlier = false
    a.verdict.outlier = true
    await assert.rejects(a.broker.send({ kind: 'peer', id: b.id }, { n: 'refused' }),
      (err: Error) => err instanceof ClockSkewError && err.status === 503)
    // a message accepted just before the verdict came (the check is made before send's first await)
    a.verdict.outlier = false
    const accepting = a.broker.send({ kind: 'peer', id: b.id }, { n: 'held' })
    a.verdict.outlier = true
    const sent = await accepting
    // no attempt while the outlier: nothing arrives and nothing is counted (a bounded look at
    // something that must not happen; an attempt would take a few ms on loopback)
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.equal(b.got.length, 0, 'nothing sent while the outlier')
    assert.equal(a.broker.status(sent.id)?.state, 'pending')
    assert.equal(a.broker.status(sent.id)?.attempts, 0)
    a.verdict.outlier = false
    a.broker.retryPendingNow()
    const status = await a.broker.ensureDelivery(sent.id, { signal: AbortSignal.timeout(20_000) })
    assert.equal(status.state, 'delivered')
    assert.deepEqual(b.got.map(m => m.data), [{ n: 'held' }], 'handled once; the refused send never went')
  })
})
