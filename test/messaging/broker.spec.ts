import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryStore } from '../../src/storage/memory.ts'
import { InvalidArgumentError, NoQuorumError, NotOwnerError, UnreachableError } from '../../src/errors.ts'
import { RPC_PROTOCOL, RPC_PROTOCOL_PREFIX } from '../../src/messaging/constants.ts'
import { decodeEnvelope, encodeEnvelope } from '../../src/messaging/envelope.ts'
import { FrameDecoder, encodeFrame } from '../../src/messaging/framing.ts'
import { readErrorPayload } from '../../src/messaging/payload.ts'
import { createMessageId } from '../../src/messaging/message-id.ts'
import type { Envelope } from '../../src/messaging/envelope.ts'
import type { ReceivedMessage } from '../../src/messaging/broker-types.ts'
import { gossipLinked, startPeer, waitFor } from './broker-peers.ts'
import type { Peer } from './broker-peers.ts'

describe('MessageBroker over libp2p', { timeout: 60_000 }, () => {
  let a: Peer
  let b: Peer
  const agents = new Map<string, string>() // agent id -> peer id

  before(async () => {
    a = await startPeer(undefined, 1)
    b = await startPeer(undefined, 2)
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
    for (const p of [a, b]) p.broker.setResolver(agentId => agents.get(agentId))
    agents.set('counter-b', b.id)
    agents.set('counter-a', a.id)
    let value = 0
    b.broker.setRequestHandler(async (req) => {
      if (req.target?.id === 'missing') throw new NotOwnerError('not here')
      if (req.data === 'hang') return await new Promise(() => {})
      const m = req.data as { op: string, by?: number }
      if (m.op === 'inc') value += m.by ?? 1
      return { value, from: req.from }
    })
    a.broker.setRequestHandler(async (req) => ({ local: true, data: req.data }))
  })

  after(async () => {
    for (const p of [a, b]) { await p.broker.stop(); await p.libp2p.stop() }
  })

  it('answers requests to an agent wherever it lives, over one reused stream', async () => {
    assert.deepEqual(await a.broker.request('counter-b', { op: 'inc' }), { value: 1, from: a.id })
    const many = await Promise.all(Array.from({ length: 20 }, async () => await a.broker.request('counter-b', { op: 'inc', by: 2 })))
    assert.equal(Math.max(...many.map((r: any) => r.value)), 41)
    assert.equal(a.dials(), 1, 'one stream, reused')
    assert.deepEqual(await a.broker.request('counter-a', 'hi'), { local: true, data: 'hi' })
  })

  it('turns a remote error into the same typed error, and a missing agent into NotFoundError', async () => {
    agents.set('missing', b.id)
    await assert.rejects(a.broker.request('missing', {}), { name: 'NotOwnerError' })
    await assert.rejects(a.broker.request('nowhere', {}), { name: 'NotFoundError' })
    // a handler that never answers: the caller's timeout ends the wait
    await assert.rejects(a.broker.request({ kind: 'peer', id: b.id }, 'hang', { timeoutMs: 300 }), { name: 'TimeoutError' })
  })

  it('delivers durable sends in order, exactly once, and reports them delivered', async () => {
    const got: ReceivedMessage[] = []
    b.broker.setMessageHandler(async (m) => { got.push(m) })
    const sent = []
    for (let i = 1; i <= 30; i++) sent.push(await a.broker.send('counter-b', { n: i }))
    assert.deepEqual(sent.map(s => s.seq), Array.from({ length: 30 }, (_, i) => i + 1))
    for (const s of sent) assert.equal((await a.broker.ensureDelivery(s.id, { signal: AbortSignal.timeout(10_000) })).state, 'delivered')
    assert.deepEqual(got.map(m => (m.data as any).n), Array.from({ length: 30 }, (_, i) => i + 1))
    assert.equal(a.broker.status(sent[0].id)?.state, 'delivered')
  })

  it('keeps retrying while the receiver refuses, then delivers', async () => {
    let refusals = 2
    const got: unknown[] = []
    b.broker.setMessageHandler(async (m) => {
      if (refusals-- > 0) throw new NotOwnerError('moving')
      got.push(m.data)
    })
    const { id } = await a.broker.send('counter-b', 'eventually')
    const st = await a.broker.ensureDelivery(id, { signal: AbortSignal.timeout(10_000) })
    assert.equal(st.state, 'delivered')
    assert.ok(st.attempts >= 2, `attempts ${st.attempts}`)
    assert.deepEqual(got, ['eventually'])
  })

  it('a retry that arrives while the first attempt still runs waits for it: an attempt that ends not applied is not acknowledged', async () => {
    // the first attempt outlasts the sender's 1 s ack wait (the sender retries meanwhile), then
    // finds the agent gone; the message must still arrive, through a later attempt
    let calls = 0
    const got: unknown[] = []
    b.broker.setMessageHandler(async (m) => {
      if (++calls === 1) {
        await new Promise(resolve => setTimeout(resolve, 2_500))
        throw new NotOwnerError('moved while its turn ran')
      }
      got.push(m.data)
    })
    const { id } = await a.broker.send('counter-b', 'slow-first')
    const st = await a.broker.ensureDelivery(id, { signal: AbortSignal.timeout(20_000) })
    assert.equal(st.state, 'delivered')
    assert.deepEqual(got, ['slow-first'], 'applied once, by an attempt after the failed one')
  })

  it('a retry of a message still queued behind a slow one is not acknowledged ahead of its attempt', async () => {
    // direct messages are handled one at a time: 'queued' (to another agent here) waits behind
    // 'slow' past the sender's ack wait, so its retry arrives before its first attempt has run;
    // that attempt then finds the agent gone, and the message must still arrive
    agents.set('other-b', b.id)
    let refused = false
    const got: unknown[] = []
    b.broker.setMessageHandler(async (m) => {
      if (m.data === 'slow') await new Promise(resolve => setTimeout(resolve, 2_500))
      if (m.data === 'queued' && !refused) { refused = true; throw new NotOwnerError('moved before its turn') }
      got.push(m.data)
    })
    const slow = await a.broker.send('counter-b', 'slow')
    const queued = await a.broker.send('other-b', 'queued')
    for (const s of [slow, queued]) assert.equal((await a.broker.ensureDelivery(s.id, { signal: AbortSignal.timeout(20_000) })).state, 'delivered')
    assert.deepEqual(got.filter(d => d === 'queued'), ['queued'], 'applied once, after the refused attempt')
  })

  it('an error that says the message was not applied (no quorum, state out of reach) is retried; the application\'s own failure is acknowledged once', async () => {
    const failures = [new NoQuorumError('minority side'), new UnreachableError('state held by no reachable peer')]
    const got: unknown[] = []
    b.broker.setMessageHandler(async (m) => {
      const err = failures.shift()
      if (err != null) throw err
      got.push(m.data)
    })
    const { id } = await a.broker.send('counter-b', 'retried')
    const st = await a.broker.ensureDelivery(id, { signal: AbortSignal.timeout(20_000) })
    assert.equal(st.state, 'delivered')
    assert.ok(st.attempts >= 2, `failed attempts ${st.attempts}`)
    assert.deepEqual(got, ['retried'])
    let verdicts = 0
    b.broker.setMessageHandler(async () => { verdicts++; throw new InvalidArgumentError('the agent refuses this message') })
    const refused = await a.broker.send('counter-b', 'refused')
    assert.equal((await a.broker.ensureDelivery(refused.id, { signal: AbortSignal.timeout(20_000) })).state, 'delivered')
    assert.equal(verdicts, 1, 'not retried: another attempt would fail the same way')
  })

  it('publishes to subscribers on other peers and on this one', async () => {
    const atB: unknown[] = []
    const atA: unknown[] = []
    const offB = b.broker.subscribe('news', m => { atB.push(m.data) })
    const offA = a.broker.subscribe('news', m => { atA.push(m.data) })
    // gossipsub needs a heartbeat or two to graft the topic mesh
    await waitFor(() => a.libp2p.services.pubsub.getSubscribers('agentmesh/msgtest/v1/t/news').length > 0 && gossipLinked(a, b), 10_000, 'subscription to propagate')
    for (let i = 0; i < 5; i++) await a.broker.publishMessage('news', { i })
    await waitFor(() => atB.length === 5, 10_000, 'publications at b')
    assert.deepEqual(atB, [0, 1, 2, 3, 4].map(i => ({ i })))
    assert.deepEqual(atA, atB)
    offA(); offB()
  })

  it('re-resolves and re-sends a request when the agent has just moved', async () => {
    let moved = false
    agents.set('mover', b.id)
    const onA = (req: ReceivedMessage): unknown => ({ at: 'a', data: req.data })
    b.broker.setRequestHandler(async (req) => {
      if (req.target?.id === 'mover') { moved = true; agents.set('mover', a.id); throw new NotOwnerError('mover left') }
      return null
    })
    a.broker.setRequestHandler(onA)
    assert.deepEqual(await a.broker.request('mover', 7), { at: 'a', data: 7 })
    assert.ok(moved)
  })

  it('re-sends a refused request under its first id, to the same peer or the next owner', async () => {
    // the receiving agent dedups on the envelope id (reply records): a re-send after NotOwnerError
    // must be the same message, not a new one that a handler would apply a second time
    const seenAtB: string[] = []
    const seenAtA: string[] = []
    agents.set('hopper', b.id)
    b.broker.setRequestHandler(async (req) => {
      seenAtB.push(req.id)
      if (seenAtB.length === 1) throw new NotOwnerError('placed here, not started yet')
      if (seenAtB.length === 2) { agents.set('hopper', a.id); throw new NotOwnerError('hopper left') }
      return null
    })
    a.broker.setRequestHandler(async (req) => { seenAtA.push(req.id); return 'served by a' })
    assert.equal(await a.broker.request('hopper', 'once'), 'served by a')
    assert.equal(seenAtB.length, 2, 'the re-send to the same peer was served, not dropped as a repeat')
    assert.equal(seenAtB[1], seenAtB[0])
    assert.deepEqual(seenAtA, [seenAtB[0]])
    // a fresh request is a new message
    agents.set('hopper', b.id)
    b.broker.setRequestHandler(async (req) => req.id)
    assert.notEqual(await a.broker.request('hopper', 'again'), seenAtB[0])
  })

  it('drops forged, unsigned-as-someone-else and malformed input, and keeps serving', async () => {
    b.broker.setRequestHandler(async () => 'still here')
    const dropped = (reason: string): number => b.counts.get(`agentmesh_messaging_dropped_total{"reason":"${reason}"}`) ?? 0
    const raw = await a.libp2p.dialProtocol(b.libp2p.peerId, RPC_PROTOCOL)
    const forge = (over: Partial<Envelope>): Uint8Array => encodeFrame(encodeEnvelope({
      kind: 'request', id: createMessageId(), sender: a.id, seq: 0, hlc: { wallMs: Date.now(), logical: 0 },
      traceparent: '', contentType: 'application/json', payload: new TextEncoder().encode('1'), ...over
    } as Envelope))
    raw.send(forge({ sender: b.id }))                                     // claims to be someone else
    raw.send(forge({ signature: new Uint8Array(64).fill(1) }))            // signature that does not verify
    raw.send(forge({ hlc: { wallMs: Date.now() + 3_600_000, logical: 0 } })) // clock far ahead
    raw.send(encodeFrame(new Uint8Array([1, 0, 3, 9, 9, 9, 0])))          // not an envelope
    await waitFor(() => dropped('sender-mismatch') === 1 && dropped('bad-signature') === 1 && dropped('clock-skew') === 1 && dropped('InvalidMessageError') >= 1, 5000, 'drops counted')
    // a length prefix over the limit gets the stream aborted
    raw.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]))
    await waitFor(() => raw.status !== 'open', 5000, 'hostile stream closed')
    assert.equal(await a.broker.request({ kind: 'peer', id: b.id }, 'ping'), 'still here')
    // a request addressed to another peer is answered NotOwnerError, not served
    const raw2 = await a.libp2p.dialProtocol(b.libp2p.peerId, RPC_PROTOCOL)
    const req = forge({ target: { kind: 'peer', id: a.id } })
    raw2.send(req)
    const frames = new FrameDecoder()
    let answer: Envelope | undefined
    for await (const chunk of raw2) {
      const [f] = frames.push(chunk)
      if (f != null) { answer = decodeEnvelope(f).envelope; break }
    }
    assert.equal(answer?.kind, 'error-reply')
    assert.equal(readErrorPayload(answer!).name, 'NotOwnerError')
    raw2.abort(new Error('done'))
  })

  it('orders a batch handed to handleMessageOrdering', () => {
    const env = (sender: string, seq: number, wallMs: number): any => ({ sender, seq, hlc: { wallMs, logical: 0 } })
    const r = a.broker.handleMessageOrdering([env('x', 2, 5), env('y', 1, 3), env('x', 1, 4)])
    assert.deepEqual(r.delivered.map((e: any) => `${e.sender}${e.seq}`), ['y1', 'x1', 'x2'])
  })
})

describe('MessageBroker outbox across a restart', { timeout: 60_000 }, () => {
  it('delivers a message accepted before the sender restarted', async () => {
    const store = new MemoryStore()
    const receiver = await startPeer(undefined, 3, undefined, false) // unsigned envelopes here
    const got: unknown[] = []
    receiver.broker.setMessageHandler(m => { got.push(m.data) })
    // the first sender cannot resolve the agent yet: the message stays pending
    const key = await generateKeyPair('Ed25519')
    const first = await startPeer(store, 4, key, false)
    const { id } = await first.broker.send('late-agent', { hello: 1 })
    assert.equal(first.broker.status(id)?.state, 'pending')
    await first.broker.stop(); await first.libp2p.stop()

    const second = await startPeer(store, 5, key, false) // a restart keeps its key, hence its peer id
    assert.equal(second.broker.status(id)?.state, 'pending')
    second.broker.setResolver(() => receiver.id)
    await second.libp2p.dial(receiver.libp2p.getMultiaddrs()[0])
    // the resumed loop is backing off; a new send on the same channel kicks it
    const next = await second.broker.send('late-agent', { hello: 2 })
    assert.equal(next.seq, 2, 'seqs continue after the restart')
    await second.broker.ensureDelivery(next.id, { signal: AbortSignal.timeout(15_000) })
    assert.equal(second.broker.status(id)?.state, 'delivered')
    assert.deepEqual(got, [{ hello: 1 }, { hello: 2 }])
    for (const p of [second, receiver]) { await p.broker.stop(); await p.libp2p.stop() }
  })
})

describe('MessageBroker requests over streams that do not open', { timeout: 60_000 }, () => {
  it('tries a request again within its deadline when its stream did not open (nothing was sent)', async () => {
    // the first two opens stall (the second is the fresh-connection retry): the request's first attempt fails unsent
    const stalled = (): Error => Object.assign(new Error('stream open stalled'), { name: 'TimeoutError' })
    const a = await startPeer(undefined, 7, undefined, true, 20, undefined, { dialFault: (n) => n <= 2 ? stalled() : undefined })
    const b = await startPeer(undefined, 8)
    try {
      await a.libp2p.dial(b.libp2p.getMultiaddrs()[0])
      a.broker.setResolver(() => b.id)
      let handled = 0
      b.broker.setRequestHandler(async () => { handled++; return { handled } })
      assert.deepEqual(await a.broker.request('far-agent', 'hi', { timeoutMs: 10_000 }), { handled: 1 })
      assert.equal(a.dials(), 3, 'two stalled opens, then one that opened')
      assert.equal(handled, 1, 'handled once')
    } finally {
      for (const p of [a, b]) { await p.broker.stop(); await p.libp2p.stop() }
    }
  })
})

describe('MessageBroker giving up and stopping', { timeout: 60_000 }, () => {
  it('marks a send failed with the reason after the last attempt, and ensureDelivery says so', async () => {
    const p = await startPeer(undefined, 6, undefined, false, 3)
    try {
      p.broker.setResolver(() => undefined)
      const { id } = await p.broker.send('ghost', 'boo')
      await assert.rejects(p.broker.ensureDelivery(id, { signal: AbortSignal.timeout(10_000) }), (err: Error) => {
        assert.equal(err.name, 'UnreachableError')
        assert.match(err.message, /NotFoundError/)
        return true
      })
      const st = p.broker.status(id)
      assert.equal(st?.state, 'failed')
      assert.match(st?.reason ?? '', /ghost/)
    } finally {
      await p.broker.stop(); await p.libp2p.stop()
    }
  })

  it('stop closes every RPC stream, whichever side opened it, and refuses further use', async () => {
    const x = await startPeer(undefined, 7, undefined, false)
    const y = await startPeer(undefined, 8, undefined, false)
    try {
      await x.libp2p.dial(y.libp2p.getMultiaddrs()[0])
      x.broker.setRequestHandler(() => 'x'); y.broker.setRequestHandler(() => 'y')
      assert.equal(await x.broker.request({ kind: 'peer', id: y.id }, 1), 'y')
      assert.equal(await y.broker.request({ kind: 'peer', id: x.id }, 1), 'x')
      const rpcStreams = (p: Peer): number => p.libp2p.getConnections().flatMap(c => c.streams).filter(s => s.protocol?.startsWith(RPC_PROTOCOL_PREFIX) === true).length
      assert.ok(rpcStreams(x) >= 1)
      await x.broker.stop()
      await waitFor(() => rpcStreams(x) === 0, 5000, 'rpc streams closed')
      await assert.rejects(x.broker.request({ kind: 'peer', id: y.id }, 1), { name: 'NotStartedError' })
    } finally {
      await x.broker.stop(); await x.libp2p.stop()
      await y.broker.stop(); await y.libp2p.stop()
    }
  })
})

describe('MessageBroker topic gap repair', { timeout: 60_000 }, () => {
  it('asks the publisher for publications gossip lost and delivers everything in order', async () => {
    let seen = 0
    // the subscriber's gossipsub loses the 2nd and 3rd publication on the topic
    const sub = await startPeer(undefined, 9, undefined, false, 20, (msg) => msg.topic.endsWith('/t/lossy') && [2, 3].includes(++seen))
    const pub = await startPeer(undefined, 10, undefined, false)
    try {
      await sub.libp2p.dial(pub.libp2p.getMultiaddrs()[0])
      const got: unknown[] = []
      sub.broker.subscribe('lossy', m => { got.push(m.data) })
      await waitFor(() => pub.libp2p.services.pubsub.getSubscribers('agentmesh/msgtest/v1/t/lossy').length > 0 && gossipLinked(pub, sub), 10_000, 'subscription')
      for (let i = 1; i <= 5; i++) await pub.broker.publishMessage('lossy', i)
      await waitFor(() => got.length === 5, 10_000, 'all five publications').catch(err => { throw new Error(`${err.message}: got ${JSON.stringify(got)}, seen ${seen}`) })
      assert.deepEqual(got, [1, 2, 3, 4, 5])
      assert.equal(seen, 5, 'two of them never arrived through gossip')
    } finally {
      await sub.broker.stop(); await sub.libp2p.stop()
      await pub.broker.stop(); await pub.libp2p.stop()
    }
  })
})
