import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Mailbox, PoisonMessageError } from '../../src/agents/index.ts'
import type { FailureDetail, JsonValue, MailboxInit, Turn } from '../../src/agents/index.ts'
import { InvalidArgumentError } from '../../src/errors.ts'
import { deferred } from '../../src/util/abort.ts'
import { ManualClock } from '../../src/util/clock.ts'
import { flush, metricValue, testTelemetry } from './helpers.ts'

function mailbox (handler: (m: JsonValue, t: Turn) => Promise<JsonValue>, init: Partial<MailboxInit> = {}): { mb: Mailbox, clock: ManualClock } {
  const clock = new ManualClock(1_000)
  const mb = new Mailbox({ agentId: 'a1', kind: 'test', handler, clock, ...init })
  return { mb, clock }
}

describe('Mailbox', () => {
  it('handles one message at a time, in arrival order', async () => {
    let running = 0
    let maxRunning = 0
    const seen: JsonValue[] = []
    const { mb } = mailbox(async (m) => {
      running++; maxRunning = Math.max(maxRunning, running)
      await flush(1)
      seen.push(m)
      running--
      return { got: m }
    })
    const replies = await Promise.all([1, 2, 3, 4, 5].map(async n => await mb.post(n)))
    assert.deepEqual(replies, [1, 2, 3, 4, 5].map(n => ({ got: n })))
    assert.deepEqual(seen, [1, 2, 3, 4, 5])
    assert.equal(maxRunning, 1)
  })

  it('refuses a message with CapacityError when the queue is full', async () => {
    const gate = deferred<void>()
    const { mb } = mailbox(async (m) => { await gate.promise; return m }, { capacity: 2 })
    const first = mb.post('running')
    await flush()
    const queued = [mb.post('q1'), mb.post('q2')]
    await assert.rejects(mb.post('q3'), { name: 'CapacityError' })
    gate.resolve()
    assert.deepEqual(await Promise.all([first, ...queued]), ['running', 'q1', 'q2'])
  })

  it('pause lets the current turn finish and queues the rest until resume', async () => {
    const gate = deferred<void>()
    const handled: JsonValue[] = []
    const { mb } = mailbox(async (m) => { if (m === 'slow') await gate.promise; handled.push(m); return m })
    const slow = mb.post('slow')
    await flush()
    const paused = mb.pause()
    const later = mb.post('later')
    let pauseDone = false
    void paused.then(() => { pauseDone = true })
    await flush()
    assert.equal(pauseDone, false, 'pause waits for the running turn')
    gate.resolve()
    await paused
    assert.equal(await slow, 'slow')
    await flush()
    assert.deepEqual(handled, ['slow'], 'nothing runs while paused')
    assert.equal(mb.size, 1)
    mb.resume()
    assert.equal(await later, 'later')
  })

  it('drain hands queued messages over; settling them answers their callers', async () => {
    const gate = deferred<void>()
    const { mb } = mailbox(async (m) => { await gate.promise; return m })
    const running = mb.post('running', { id: 'm0' })
    await flush()
    const a = mb.post({ n: 1 }, { id: 'm1' })
    const b = mb.post({ n: 2 }, { id: 'm2' })
    const drained = mb.drain()
    assert.deepEqual(drained.map(d => [d.id, d.message]), [['m1', { n: 1 }], ['m2', { n: 2 }]])
    gate.resolve()
    assert.equal(await running, 'running', 'the turn in flight still completes here')
    drained[0].resolve('handled elsewhere')
    drained[1].reject(new InvalidArgumentError('refused elsewhere'))
    assert.equal(await a, 'handled elsewhere')
    await assert.rejects(b, { name: 'InvalidArgumentError' })
  })

  it('restarts with exponential backoff after a failure and retries the same message', async () => {
    let calls = 0
    const { mb, clock } = mailbox(async (m) => {
      calls++
      if (calls <= 2) throw new Error(`boom ${calls}`)
      return { ok: m }
    }, { backoffBaseMs: 100 })
    const failures: FailureDetail[] = []
    const restarts: number[] = []
    mb.addEventListener('message:failed', (e) => failures.push(e.detail))
    mb.addEventListener('mailbox:restarted', (e) => restarts.push(e.detail.delayMs))
    const reply = mb.post('x', { id: 'id-1' })
    await flush()
    assert.equal(calls, 1)
    clock.advance(99)
    await flush()
    assert.equal(calls, 1, 'no retry before the backoff has passed')
    clock.advance(1)
    await flush()
    assert.equal(calls, 2)
    clock.advance(199)
    await flush()
    assert.equal(calls, 2, 'the second backoff is doubled')
    clock.advance(1)
    assert.deepEqual(await reply, { ok: 'x' })
    assert.deepEqual(failures.map(f => [f.messageId, f.attempt, f.reason, f.error.message]), [['id-1', 1, 'error', 'boom 1'], ['id-1', 2, 'error', 'boom 2']])
    assert.deepEqual(restarts, [100, 200])
  })

  it('quarantines a poison message after 3 tries, tells its caller, counts it, and carries on', async () => {
    const mon = testTelemetry()
    const { mb, clock } = mailbox(async (m) => {
      if (m === 'poison') throw new Error('cannot digest')
      return m
    }, { backoffBaseMs: 10, telemetry: mon })
    const quarantined: string[] = []
    mb.addEventListener('message:quarantined', (e) => quarantined.push(e.detail.messageId))
    const poison = mb.post('poison', { id: 'p1' }).catch((err: unknown) => err)
    const next = mb.post('fine')
    for (let i = 0; i < 5; i++) { await flush(); clock.advance(100) }
    const err = await poison
    assert.ok(err instanceof PoisonMessageError)
    assert.match(err.message, /failed 3 times.*cannot digest/)
    assert.equal(await next, 'fine')
    assert.deepEqual(quarantined, ['p1'])
    assert.deepEqual(mb.quarantined().map(q => [q.messageId, q.tries, q.error.message]), [['p1', 3, 'cannot digest']])
    assert.equal(await metricValue(mon, 'agentmesh_agent_turns_total', { kind: 'test', outcome: 'error' }), 3)
    assert.equal(await metricValue(mon, 'agentmesh_agent_messages_quarantined_total', { kind: 'test' }), 1)
    assert.equal(await metricValue(mon, 'agentmesh_agent_turns_total', { kind: 'test', outcome: 'ok' }), 1)
    // a retried delivery of the poison message gets the same answer without running again
    await assert.rejects(mb.post('poison', { id: 'p1' }), { name: 'PoisonMessageError' })
  })

  it('counts a hanging handler as a failure and aborts its turn signal', async () => {
    const signals: AbortSignal[] = []
    let calls = 0
    const { mb, clock } = mailbox(async (m, turn) => {
      calls++
      signals.push(turn.signal)
      if (calls === 1) await new Promise(() => {})
      return m
    }, { handlerTimeoutMs: 1_000, backoffBaseMs: 50 })
    const reasons: string[] = []
    mb.addEventListener('message:failed', (e) => reasons.push(e.detail.reason))
    const reply = mb.post('late')
    await flush()
    clock.advance(1_000)
    await flush()
    assert.deepEqual(reasons, ['timeout'])
    assert.equal(signals[0].aborted, true)
    assert.equal(signals[0].reason.name, 'TimeoutError')
    clock.advance(50)
    assert.equal(await reply, 'late')
    assert.equal(calls, 2)
  })

  it('passes a 4xx error straight to the caller without retrying', async () => {
    let calls = 0
    const { mb } = mailbox(async () => { calls++; throw new InvalidArgumentError('unknown op') })
    await assert.rejects(mb.post({ op: 'nope' }), { name: 'InvalidArgumentError', message: 'unknown op' })
    assert.equal(calls, 1)
    assert.equal(await mb.post('after').catch(() => 'still refusing'), 'still refusing')
    assert.equal(calls, 2, 'the mailbox did not back off')
  })

  it('handles a retried message id once and returns the first reply, until the window expires', async () => {
    let calls = 0
    const { mb, clock } = mailbox(async () => ({ n: ++calls }), { dedupWindowMs: 60_000 })
    const [a, b] = await Promise.all([mb.post('m', { id: 'x' }), mb.post('m', { id: 'x' })])
    assert.deepEqual(a, { n: 1 })
    assert.deepEqual(b, { n: 1 })
    assert.deepEqual(await mb.post('m', { id: 'x' }), { n: 1 })
    assert.deepEqual(await mb.post('m', { id: 'y' }), { n: 2 })
    clock.advance(60_001)
    assert.deepEqual(await mb.post('m', { id: 'x' }), { n: 3 }, 'forgotten after the window')
  })

  it('keeps the dedup memory bounded', async () => {
    let calls = 0
    const { mb } = mailbox(async () => ++calls, { dedupMaxEntries: 3 })
    for (const id of ['a', 'b', 'c', 'd']) await mb.post(null, { id })
    assert.equal(await mb.post(null, { id: 'd' }), 4)
    assert.equal(await mb.post(null, { id: 'a' }), 5, 'the oldest id was forgotten')
  })

  it('detaches an aborted caller but still handles the message once', async () => {
    const gate = deferred<void>()
    let calls = 0
    const { mb } = mailbox(async (m) => { calls++; await gate.promise; return m })
    const ac = new AbortController()
    const p = mb.post('v', { id: 'k', signal: ac.signal })
    ac.abort()
    await assert.rejects(p, { name: 'AbortError' })
    gate.resolve()
    assert.equal(await mb.post('v', { id: 'k' }), 'v')
    assert.equal(calls, 1)
  })

  it('close fails the queued messages and refuses new ones', async () => {
    const gate = deferred<void>()
    const { mb } = mailbox(async (m) => { await gate.promise; return m })
    const running = mb.post('r')
    await flush()
    const queued = mb.post('q')
    mb.close()
    await assert.rejects(queued, { name: 'NotStartedError' })
    await assert.rejects(mb.post('new'), { name: 'NotStartedError' })
    gate.resolve()
    assert.equal(await running, 'r')
    await mb.idle()
  })
})
