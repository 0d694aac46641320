import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { RPC_PROTOCOL_PREFIX } from '../../src/messaging/constants.ts'
import { startPeer, waitFor } from './broker-peers.ts'
import type { Peer } from './broker-peers.ts'

const REQUESTS = 10_000
const IN_FLIGHT = 64

/** RPC streams open on this peer's connections (either direction) */
const rpcStreams = (p: Peer): number =>
  p.libp2p.getConnections().flatMap(c => c.streams).filter(s => s.protocol?.startsWith(RPC_PROTOCOL_PREFIX) === true).length

/** timers pending in this process (a request that forgot its timeout would leave one) */
const timers = (): number => process.getActiveResourcesInfo().filter(r => r === 'Timeout').length

describe('RPC streams under many requests, aborts and timeouts', { timeout: 120_000 }, () => {
  const peers: Peer[] = []
  after(async () => {
    for (const p of peers) { await p.broker.stop(); await p.libp2p.stop() }
  })

  it(`${REQUESTS} requests, a tenth aborted and a tenth timed out, reuse one stream and leave none behind`, async () => {
    const x = await startPeer(undefined, 41, undefined, false)
    const y = await startPeer(undefined, 42, undefined, false)
    peers.push(x, y)
    await x.libp2p.dial(y.libp2p.getMultiaddrs()[0])
    y.broker.setRequestHandler(async (req) => {
      // 'slow' answers after the caller has given up on it
      if (req.data === 'slow') await new Promise(resolve => setTimeout(resolve, 30))
      return req.data
    })
    assert.equal(await x.broker.request({ kind: 'peer', id: y.id }, 'warm'), 'warm')
    const before = { x: rpcStreams(x), y: rpcStreams(y), timers: timers() }
    assert.equal(before.x, 1)
    assert.equal(before.y, 1)

    const outcomes = { ok: 0, AbortError: 0, TimeoutError: 0, other: [] as string[] }
    let next = 0
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < REQUESTS) {
        const i = next++
        try {
          if (i % 10 === 0) {
            // aborted at different moments: before anything is written, or while the reply is on its way
            const controller = new AbortController()
            const reply = x.broker.request({ kind: 'peer', id: y.id }, 'slow', { signal: controller.signal })
            if (i % 20 === 0) controller.abort(); else setImmediate(() => { controller.abort() })
            await reply
          } else if (i % 10 === 1) {
            await x.broker.request({ kind: 'peer', id: y.id }, 'slow', { timeoutMs: 5 })
          } else {
            assert.equal(await x.broker.request({ kind: 'peer', id: y.id }, i), i)
          }
          outcomes.ok++
        } catch (err) {
          const name = (err as Error).name
          if (name === 'AbortError' || name === 'TimeoutError') outcomes[name]++
          else outcomes.other.push(`${i}: ${name} ${(err as Error).message}`)
        }
      }
    }))

    assert.deepEqual(outcomes.other, [])
    assert.equal(outcomes.ok, REQUESTS * 0.8)
    assert.equal(outcomes.AbortError, REQUESTS / 10)
    assert.equal(outcomes.TimeoutError, REQUESTS / 10)
    assert.equal(x.dials(), 1, 'one stream dialled, reused for every request')
    // the slow handlers finish and the late replies are dropped; then nothing is left over
    await waitFor(() => timers() <= before.timers + 10, 10_000, 'request timers to be gone')
    assert.equal(rpcStreams(x), before.x)
    assert.equal(rpcStreams(y), before.y)
    // and the stream still works both ways
    assert.equal(await x.broker.request({ kind: 'peer', id: y.id }, 'after'), 'after')
    y.broker.setRequestHandler(undefined)
    x.broker.setRequestHandler(req => req.data)
    assert.equal(await y.broker.request({ kind: 'peer', id: x.id }, 'back'), 'back')
    assert.equal(rpcStreams(x), 1)
  })

  it('a request whose stream closes before the answer fails with UnreachableError at once, not at its timeout', async () => {
    const x = await startPeer(undefined, 43, undefined, false)
    const y = await startPeer(undefined, 44, undefined, false)
    peers.push(x)
    await x.libp2p.dial(y.libp2p.getMultiaddrs()[0])
    let release = (): void => {}
    const held = new Promise<void>(resolve => { release = resolve })
    let started = (): void => {}
    const handling = new Promise<void>(resolve => { started = resolve })
    y.broker.setRequestHandler(async () => { started(); await held; return 'too late' })
    const reply = x.broker.request({ kind: 'peer', id: y.id }, 'hold', { timeoutMs: 60_000 })
    await handling
    await y.broker.stop() // closes its streams: x's stream to y ends with the request unanswered
    release()
    await assert.rejects(reply, (err: Error) => {
      assert.equal(err.name, 'UnreachableError')
      assert.match(err.message, /closed before the answer/)
      return true
    })
    await y.libp2p.stop()
  })
})
