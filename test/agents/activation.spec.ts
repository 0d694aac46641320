import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AgentActivation, MemoryAgentState, createLlmClient, defineAgent } from '../../src/agents/index.ts'
import type { AgentAddress, AgentContext, AgentKind, AgentServices, JsonValue, ServiceCallOptions } from '../../src/agents/index.ts'
import { parseTraceparent } from '../../src/monitoring/index.ts'
import { deferred } from '../../src/util/abort.ts'
import { TimeoutError } from '../../src/errors.ts'
import { flush, metricValue, testTelemetry } from './helpers.ts'

/** services that record every call and answer requests with `answer` */
function recordingServices (answer: (to: string, msg: JsonValue) => Promise<JsonValue> = async (_to, m) => m) {
  const calls: Array<{ op: string, from: AgentAddress, to: string, message?: JsonValue, options?: ServiceCallOptions }> = []
  const services: AgentServices = {
    send: async (from, to, message, options) => { calls.push({ op: 'send', from, to, message, options }) },
    request: async (from, to, message, options) => { calls.push({ op: 'request', from, to, message, options }); return await answer(to, message) },
    publish: async (from, topic, message, options) => { calls.push({ op: 'publish', from, to: topic, message, options }) },
    deploy: async (from, agentId, spec, options) => { calls.push({ op: 'deploy', from, to: agentId, options }); return { id: agentId, kind: spec.kind, node: 'n9', epoch: 0 } }
  }
  return { services, calls }
}

const llm = createLlmClient({ baseUrl: 'http://127.0.0.1:9/v1', env: {} })

function activation (kind: AgentKind, extra: { fresh?: boolean, services?: AgentServices, commitTurn?: (id: string) => Promise<void>, telemetry?: ReturnType<typeof testTelemetry> } = {}) {
  const state = new MemoryAgentState()
  const services = extra.services ?? recordingServices().services
  const a = new AgentActivation({ kind, agentId: 'a1', nodeId: 'n1', config: { greeting: 'hi' }, state, fresh: extra.fresh ?? true }, {
    services,
    llm,
    ...(extra.telemetry != null ? { telemetry: extra.telemetry } : {}),
    ...(extra.commitTurn != null ? { commitTurn: async (id) => { await extra.commitTurn!(id) } } : {})
  })
  return { a, state }
}

describe('AgentActivation', () => {
  it('runs init only on the first activation, onStart every time, onStop with the signal aborted', async () => {
    const log: string[] = []
    const kind = defineAgent({
      kind: 'life',
      requirements: { cpu: 0.1, memoryMb: 1 },
      init: (ctx) => { log.push('init'); ctx.state.set('created', ctx.config.greeting) },
      onStart: (ctx) => { log.push(`start:${ctx.nodeId}`) },
      onMessage: (m, ctx) => ({ m, created: ctx.state.get('created') as string, kind: ctx.kind, id: ctx.agentId }),
      onStop: (ctx) => { log.push(`stop:${String(ctx.signal.aborted)}`) }
    })
    const { a, state } = activation(kind)
    await a.start()
    assert.deepEqual(await a.deliver('x'), { m: 'x', created: 'hi', kind: 'life', id: 'a1' })
    await a.stop()
    const again = new AgentActivation({ kind, agentId: 'a1', nodeId: 'n2', state, fresh: false }, { services: recordingServices().services, llm })
    await again.start()
    await again.stop()
    assert.deepEqual(log, ['init', 'start:n1', 'stop:true', 'start:n2', 'stop:true'])
    await assert.rejects(a.deliver('late'), { name: 'NotStartedError' })
  })

  it('holds messages that arrive while starting until onStart is done', async () => {
    const gate = deferred<void>()
    const seen: string[] = []
    const kind = defineAgent({
      kind: 'slow-start',
      requirements: { cpu: 0.1, memoryMb: 1 },
      onStart: async () => { await gate.promise; seen.push('started') },
      onMessage: (m) => { seen.push(`msg:${String(m)}`); return m }
    })
    const { a } = activation(kind)
    const started = a.start()
    const reply = a.deliver('early')
    await flush()
    assert.deepEqual(seen, [])
    gate.resolve()
    await started
    assert.equal(await reply, 'early')
    assert.deepEqual(seen, ['started', 'msg:early'])
    await a.stop()
  })

  it('an activation stopped while starting stays stopped', async () => {
    const gate = deferred<void>()
    const kind = defineAgent({ kind: 'slow', requirements: { cpu: 0.1, memoryMb: 1 }, onStart: async () => { await gate.promise }, onMessage: (m) => m })
    const { a } = activation(kind)
    const starting = a.start()
    const queued = a.deliver('x')
    await a.stop()
    gate.resolve()
    await assert.rejects(starting, { name: 'NotStartedError' })
    await assert.rejects(queued, { name: 'NotStartedError' })
    assert.equal(a.status, 'stopped')
  })

  it('a failing onStart fails the activation and its queued messages', async () => {
    const kind = defineAgent({ kind: 'broken', requirements: { cpu: 0.1, memoryMb: 1 }, onStart: () => { throw new Error('no config') }, onMessage: (m) => m })
    const { a } = activation(kind)
    const failed: string[] = []
    a.addEventListener('activation:failed', (e) => failed.push(e.detail.error.message))
    const queued = a.deliver('x')
    await assert.rejects(a.start(), { message: 'no config' })
    await assert.rejects(queued, { name: 'NotStartedError' })
    assert.equal(a.status, 'failed')
    assert.deepEqual(failed, ['no config'])
  })

  it('stop with drain hands back the queued messages after the running turn', async () => {
    const gate = deferred<void>()
    const kind = defineAgent({ kind: 'busy', requirements: { cpu: 0.1, memoryMb: 1 }, onMessage: async (m) => { await gate.promise; return m } })
    const { a } = activation(kind)
    await a.start()
    const first = a.deliver(1, { id: 'm1' })
    await flush()
    const second = a.deliver(2, { id: 'm2', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
    const stopping = a.stop({ drain: true })
    gate.resolve()
    const drained = await stopping
    assert.equal(await first, 1)
    assert.deepEqual(drained.map(d => [d.id, d.message, d.traceparent]), [['m2', 2, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']])
    drained[0].resolve('moved')
    assert.equal(await second, 'moved')
  })

  it('gives handlers a context whose calls carry the agent, the turn signal and the turn span', async () => {
    const mon = testTelemetry()
    const { services, calls } = recordingServices(async (to) => ({ from: to }))
    const kind = defineAgent({
      kind: 'caller',
      requirements: { cpu: 0.1, memoryMb: 1 },
      async onMessage (_m, ctx) {
        const r = await ctx.request('other', { q: 1 }, { timeoutMs: 500 })
        await ctx.send('other', 'fire')
        await ctx.publish('news', { n: 1 })
        await ctx.deploy('child', { kind: 'echo' })
        return { r, messageId: ctx.messageId ?? null, trace: ctx.span.traceId }
      }
    })
    const { a } = activation(kind, { services, telemetry: mon })
    await a.start()
    const reply = await a.deliver(null, { id: 'msg-7', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }) as any
    assert.deepEqual(reply.r, { from: 'other' })
    assert.equal(reply.messageId, 'msg-7')
    assert.equal(reply.trace, '0af7651916cd43dd8448eb211c80319c', 'the turn continues the sender\'s trace')
    assert.deepEqual(calls.map(c => [c.op, c.to, c.from.agentId, c.from.kind, c.from.nodeId]), [
      ['request', 'other', 'a1', 'caller', 'n1'], ['send', 'other', 'a1', 'caller', 'n1'],
      ['publish', 'news', 'a1', 'caller', 'n1'], ['deploy', 'child', 'a1', 'caller', 'n1']
    ])
    assert.equal(calls[0].options?.timeoutMs, 500)
    assert.ok(calls[0].options?.signal instanceof AbortSignal)
    assert.equal(parseTraceparent(calls[0].options?.traceparent ?? '').traceId, '0af7651916cd43dd8448eb211c80319c')
    await a.stop()
    assert.equal(await metricValue(mon, 'agentmesh_agent_activations_total', { kind: 'caller', event: 'started' }), 1)
    assert.equal(await metricValue(mon, 'agentmesh_agents_active', { kind: 'caller' }), 0)
  })

  it('releases a reply only after commitTurn has finished', async () => {
    const commit = deferred<void>()
    const commits: string[] = []
    const kind = defineAgent({ kind: 'writer', requirements: { cpu: 0.1, memoryMb: 1 }, onMessage: (m, ctx) => { ctx.state.set('last', m); return 'ok' } })
    const { a, state } = activation(kind, { commitTurn: async (id) => { commits.push(id); await commit.promise } })
    await a.start()
    let released = false
    const reply = a.deliver('v').then((r) => { released = true; return r })
    await flush()
    assert.equal(state.get('last'), 'v', 'the handler ran')
    assert.deepEqual(commits, ['a1'])
    assert.equal(released, false, 'the reply waits for the commit')
    commit.resolve()
    assert.equal(await reply, 'ok')
    await a.stop()
  })

  it('a turn whose commit failed is retried by committing again, not by running the handler again', async () => {
    let handled = 0
    const commits: string[] = []
    const kind = defineAgent({
      kind: 'counter',
      requirements: { cpu: 0.1, memoryMb: 1 },
      onMessage: (_m, ctx) => { handled++; ctx.state.set('n', (ctx.state.get('n') as number ?? 0) + 1); return ctx.state.get('n') as number }
    })
    // the first commit fails as a write concern that timed out does; the mailbox retries the turn
    const { a, state } = activation(kind, {
      commitTurn: async (id) => {
        commits.push(id)
        if (commits.length === 1) throw new TimeoutError('write concern not met in time')
      }
    })
    await a.start()
    // the mailbox's restart timer is unref'd (it must not keep a peer's process alive): this keeps
    // the test's event loop running until the retry
    const alive = setInterval(() => {}, 20)
    const first = await a.deliver('inc').finally(() => { clearInterval(alive) })
    assert.equal(first, 1, 'the first try\'s reply')
    assert.equal(handled, 1, 'the handler ran once')
    assert.equal(state.get('n'), 1, 'the increment applied once')
    assert.deepEqual(commits, ['a1', 'a1'], 'the retry committed again')
    // the next message runs its handler as usual
    assert.equal(await a.deliver('inc'), 2)
    assert.equal(handled, 2)
    await a.stop()
  })

  it('spawned tasks run with the activation signal and are awaited by stop', async () => {
    let taskSignal: AbortSignal | undefined
    let finishedAfterAbort = false
    const kind = defineAgent({
      kind: 'bg',
      requirements: { cpu: 0.1, memoryMb: 1 },
      onStart: (ctx) => {
        ctx.spawn('loop', async (bg: AgentContext) => {
          taskSignal = bg.signal
          await new Promise<void>((resolve) => bg.signal.addEventListener('abort', () => resolve(), { once: true }))
          await flush(1)
          finishedAfterAbort = true
        })
      },
      onMessage: (m) => m
    })
    const { a } = activation(kind)
    await a.start()
    assert.equal(taskSignal?.aborted, false)
    await a.stop()
    assert.equal(taskSignal?.aborted, true)
    assert.equal(finishedAfterAbort, true, 'stop waited for the task')
  })
})
