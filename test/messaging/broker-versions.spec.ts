import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createMeshLibp2p } from '../../src/network/index.ts'
import { MessageBroker } from '../../src/messaging/broker.ts'
import { MemoryStore } from '../../src/storage/memory.ts'
import { systemClock } from '../../src/util/clock.ts'
import { seededRng } from '../../src/util/prng.ts'
import { RPC_PROTOCOL_PREFIX } from '../../src/messaging/constants.ts'
import type { MeshLibp2p } from '../../src/network/index.ts'
import { FrameDecoder, encodeFrame } from '../../src/messaging/framing.ts'
import { decodeEnvelope, encodeEnvelope } from '../../src/messaging/envelope.ts'
import { createMessageId } from '../../src/messaging/message-id.ts'
import { captureLogs, startPeer, testTelemetry, waitFor } from './broker-peers.ts'
import type { Peer } from './broker-peers.ts'

const V1_ONLY = { init: { rpcVersions: ['1.0.0'] } }

describe('MessageBroker RPC protocol versions', { timeout: 60_000 }, () => {
  const peers: Peer[] = []
  const others: MeshLibp2p[] = []
  after(async () => {
    for (const p of peers) { await p.broker.stop(); await p.libp2p.stop() }
    for (const l of others) await l.stop()
  })

  async function pair (dialer: Parameters<typeof startPeer>[6], listener: Parameters<typeof startPeer>[6]): Promise<[Peer, Peer]> {
    const x = await startPeer(undefined, 31, undefined, false, 20, undefined, dialer)
    const y = await startPeer(undefined, 32, undefined, false, 20, undefined, listener)
    peers.push(x, y)
    await x.libp2p.dial(y.libp2p.getMultiaddrs()[0])
    x.broker.setRequestHandler(req => ({ at: 'x', data: req.data }))
    y.broker.setRequestHandler(req => ({ at: 'y', data: req.data }))
    return [x, y]
  }

  const rpcStreamProtocols = (p: Peer): string[] =>
    p.libp2p.getConnections().flatMap(c => c.streams).map(s => s.protocol ?? '').filter(s => s.startsWith(RPC_PROTOCOL_PREFIX))

  it('a peer that also speaks 2.0 and a 1.x-only peer talk 1.0, whichever of them dials', async () => {
    for (const [dialer, listener] of [[{}, V1_ONLY], [V1_ONLY, {}]]) {
      const [x, y] = await pair(dialer, listener)
      assert.deepEqual(await x.broker.request({ kind: 'peer', id: y.id }, 1), { at: 'y', data: 1 })
      assert.deepEqual(await y.broker.request({ kind: 'peer', id: x.id }, 2), { at: 'x', data: 2 })
      assert.equal(x.broker.rpcVersionWith(y.id), 1)
      assert.equal(y.broker.rpcVersionWith(x.id), 1)
      assert.deepEqual(rpcStreamProtocols(x), [`${RPC_PROTOCOL_PREFIX}1.0.0`], 'one stream, reused both ways')
    }
  })

  it('two peers that speak 2.0 and 1.0 talk 2.0 (batched frames), many requests in flight', async () => {
    const [x, y] = await pair({}, {})
    const replies = await Promise.all(Array.from({ length: 200 }, async (_, i) => await x.broker.request({ kind: 'peer', id: y.id }, i)))
    assert.deepEqual(replies, Array.from({ length: 200 }, (_, i) => ({ at: 'y', data: i })))
    assert.equal(x.broker.rpcVersionWith(y.id), 2)
    assert.equal(y.broker.rpcVersionWith(x.id), 2)
    assert.deepEqual(rpcStreamProtocols(y), [`${RPC_PROTOCOL_PREFIX}2.0.0`])
    // durable sends ride the same 2.0 stream
    const got: unknown[] = []
    y.broker.setMessageHandler(m => { got.push(m.data) })
    const sent = []
    for (let i = 0; i < 20; i++) sent.push(await x.broker.send({ kind: 'peer', id: y.id }, i))
    for (const s of sent) await x.broker.ensureDelivery(s.id, { signal: AbortSignal.timeout(10_000) })
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i))
  })

  it('a peer that speaks only an unknown major is refused with UnsupportedVersionError and a log line, both ways', async () => {
    const logs = captureLogs()
    const [x, y] = await pair({ logger: logs }, {})
    const future = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), mesh: 'msgtest', role: 'node', host: '127.0.0.1', port: 0 })
    others.push(future)
    let served = 0
    await future.handle(`${RPC_PROTOCOL_PREFIX}3.0.0`, (stream) => { served++; stream.abort(new Error('not in this test')) })
    await x.libp2p.dial(future.getMultiaddrs()[0])
    await assert.rejects(x.broker.request({ kind: 'peer', id: future.peerId.toString() }, 'hi'), (err: Error) => {
      assert.equal(err.name, 'UnsupportedVersionError')
      assert.match(err.message, /speaks none of our RPC versions \(\/agentmesh\/rpc\/2\.0\.0, \/agentmesh\/rpc\/1\.0\.0\)/)
      return true
    })
    // and the other way round: our peer does not answer a version it does not know
    await assert.rejects(future.dialProtocol(x.libp2p.peerId, `${RPC_PROTOCOL_PREFIX}3.0.0`), { name: 'UnsupportedProtocolError' })
    assert.equal(served, 0)
    // the refusing peer says so in its log, naming the peer and the versions it offered
    const refusal = logs.lines.filter(l => l.includes('speaks none of our RPC versions'))
    assert.deepEqual(refusal, [`error agentmesh:messaging: peer ${future.peerId.toString()} speaks none of our RPC versions (/agentmesh/rpc/2.0.0, /agentmesh/rpc/1.0.0)`])
    // the refused peer did not break anything: x keeps serving and asking
    assert.equal(x.broker.rpcVersionWith(future.peerId.toString()), undefined)
    assert.deepEqual(await x.broker.request({ kind: 'peer', id: y.id }, 3), { at: 'y', data: 3 })
    assert.deepEqual(await y.broker.request({ kind: 'peer', id: x.id }, 4), { at: 'x', data: 4 })
  })

  it('an envelope of an unknown major version is dropped with a log line; the stream and the peer keep working', async () => {
    const logs = captureLogs()
    const [x] = await pair({ logger: logs }, {})
    const key = await generateKeyPair('Ed25519')
    const other = await createMeshLibp2p({ privateKey: key, mesh: 'msgtest', role: 'node', host: '127.0.0.1', port: 0 })
    others.push(other)
    const sender = other.peerId.toString()
    await other.dial(x.libp2p.getMultiaddrs()[0])
    const stream = await other.dialProtocol(x.libp2p.peerId, `${RPC_PROTOCOL_PREFIX}1.0.0`)
    const request = (data: string): Uint8Array => encodeEnvelope({
      kind: 'request', id: createMessageId(), sender, seq: 0, hlc: { wallMs: Date.now(), logical: 0 },
      traceparent: '', contentType: 'application/json', payload: new TextEncoder().encode(JSON.stringify(data))
    })
    const future = request('from the future')
    assert.equal(future[0], 1, 'the wire starts with the major version')
    future[0] = 7
    stream.send(encodeFrame(future))
    const line = `debug agentmesh:messaging: dropped envelope from ${sender} (UnsupportedVersionError): envelope version 7.0 (this peer speaks 1.x)`
    await waitFor(() => logs.lines.includes(line), 5000, 'the refusal log line')
    // the same stream still carries a request of our version, and it is answered
    stream.send(encodeFrame(request('now')))
    const frames = new FrameDecoder()
    let answer: ReturnType<typeof decodeEnvelope>['envelope'] | undefined
    for await (const chunk of stream) {
      const [f] = frames.push(chunk)
      if (f != null) { answer = decodeEnvelope(f).envelope; break }
    }
    assert.equal(answer?.kind, 'reply')
    assert.deepEqual(JSON.parse(new TextDecoder().decode(answer?.payload)), { at: 'x', data: 'now' })
    assert.equal(logs.lines.filter(l => l.includes('UnsupportedVersionError')).length, 1, 'one line per refused envelope')
    stream.abort(new Error('done'))
  })

  it('refuses to be configured with a version it does not implement', async () => {
    const libp2p = await createMeshLibp2p({ privateKey: await generateKeyPair('Ed25519'), mesh: 'msgtest', role: 'node', host: '127.0.0.1', port: 0 })
    others.push(libp2p)
    assert.throws(() => new MessageBroker({
      libp2p, peerId: libp2p.peerId.toString(), telemetry: testTelemetry(), store: new MemoryStore(), clock: systemClock, rng: seededRng(1)
    }, { rpcVersions: ['3.0.0'] }), { name: 'InvalidArgumentError' })
  })
})
