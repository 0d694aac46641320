import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  LocalAgentMesh, coordinator, counter, countPrimes, createLlmClient, defineAgent, echo, llmChat, worker
} from '../../src/agents/index.ts'
import type { AgentKind, JsonValue } from '../../src/agents/index.ts'
import { deferred } from '../../src/util/abort.ts'
import { startLlmServer } from './llm-server.ts'
import type { LlmTestServer } from './llm-server.ts'
import { waitFor } from './helpers.ts'

const PRIMES_BELOW_100K = 9592
const NODES = ['n1', 'n2', 'n3']

let server: LlmTestServer
before(async () => { server = await startLlmServer() })
after(async () => { await server.close() })

function meshOf (kinds: AgentKind[]): LocalAgentMesh {
  return new LocalAgentMesh({
    kinds,
    nodes: NODES,
    llm: createLlmClient({ baseUrl: server.url, env: {}, retryBaseMs: 5, retryMaxMs: 20 }),
    mailbox: { backoffBaseMs: 5, backoffMaxMs: 20, handlerTimeoutMs: 5_000 }
  })
}

async function statusOf (mesh: LocalAgentMesh, id: string): Promise<{ done: number, total: number, result?: JsonValue, failed?: number }> {
  return await mesh.call(id, { op: 'status' }) as any
}

async function finished (mesh: LocalAgentMesh, id: string): Promise<{ done: number, total: number, result?: JsonValue }> {
  let last = await statusOf(mesh, id)
  await waitFor(async () => { last = await statusOf(mesh, id); return last.total > 0 && last.done === last.total }, 20_000, 'job done')
  return last
}

describe('built-in kinds: echo, counter, llm-chat', () => {
  it('echo replies with its message and forwards to another agent wherever it runs', async () => {
    const mesh = meshOf([echo, counter])
    try {
      await mesh.deployAgent('e1', { kind: 'echo' })
      await mesh.deployAgent('c1', { kind: 'counter', node: 'n3' })
      assert.deepEqual(await mesh.call('e1', { hello: ['world', 1] }), { hello: ['world', 1] })
      assert.deepEqual(await mesh.call('e1', { forward: 'c1', message: { op: 'inc', by: 2 } }), { from: 'c1', reply: { value: 2 } })
      await assert.rejects(mesh.call('e1', { forward: 'nobody', message: 1 }), { name: 'NotFoundError' })
      // asking itself would deadlock the turn: refused at once
      await assert.rejects(mesh.call('e1', { forward: 'e1', message: 1 }), { name: 'InvalidArgumentError', message: /cannot request itself/ })
      assert.equal(await mesh.call('e1', 'still answering'), 'still answering')
    } finally { await mesh.stop() }
  })

  it('counter counts in state key value, keeps it across a crash, and refuses bad ops', async () => {
    const mesh = meshOf([counter])
    try {
      await mesh.deployAgent('c1', { kind: 'counter', config: { start: 10 } })
      assert.deepEqual(await mesh.call('c1', { op: 'inc' }), { value: 11 })
      assert.deepEqual(await mesh.call('c1', { op: 'inc', by: 4 }), { value: 15 })
      assert.equal(mesh.stateOf('c1').get('value'), 15)
      await mesh.crash('c1')
      await assert.rejects(mesh.call('c1', { op: 'get' }), { name: 'UnreachableError' })
      const moved = await mesh.reactivate('c1', 'n2')
      assert.deepEqual([moved.node, moved.epoch], ['n2', 1])
      assert.deepEqual(await mesh.call('c1', { op: 'get' }), { value: 15 }, 'init did not run again')
      await assert.rejects(mesh.call('c1', { op: 'dec' }), { name: 'InvalidArgumentError', message: /unknown op/ })
      await assert.rejects(mesh.call('c1', { op: 'inc', by: 'x' }), { name: 'InvalidArgumentError' })
    } finally { await mesh.stop() }
  })

  it('a migration hands queued messages to the new activation, which answers them with the same state', async () => {
    const gate = deferred<void>()
    let first = true
    const handledOn: string[] = []
    const slowCounter = defineAgent({
      ...counter,
      async onMessage (message, ctx) {
        handledOn.push(ctx.nodeId)
        if (first) { first = false; await gate.promise }
        return await counter.onMessage(message, ctx)
      }
    })
    const mesh = meshOf([slowCounter])
    try {
      await mesh.deployAgent('c1', { kind: 'counter', node: 'n1' })
      const replies = [1, 2, 3].map(async () => await mesh.call('c1', { op: 'inc' }))
      await waitFor(() => mesh.activationOf('c1')?.mailbox.size === 2, 5_000, 'two queued')
      const moving = mesh.migrate('c1', 'n2')
      gate.resolve()
      const moved = await moving
      assert.deepEqual([moved.node, moved.epoch], ['n2', 1])
      assert.deepEqual(await Promise.all(replies), [{ value: 1 }, { value: 2 }, { value: 3 }])
      assert.deepEqual(handledOn, ['n1', 'n2', 'n2'], 'the running turn finished on n1, the queued ones ran on n2')
      assert.deepEqual(await mesh.call('c1', { op: 'get' }), { value: 3 })
    } finally {
      gate.resolve()
      await mesh.stop()
    }
  })

  it('llm-chat keeps the conversation in state, bounded, and sends it with each turn', async () => {
    const mesh = meshOf([llmChat])
    try {
      await mesh.deployAgent('chat', { kind: 'llm-chat', config: { system: 'be terse' } })
      assert.deepEqual(await mesh.call('chat', { op: 'chat', text: 'first' }), { text: 'echo: first (2 messages)' })
      assert.deepEqual(await mesh.call('chat', { op: 'chat', text: 'second' }), { text: 'echo: second (4 messages)' })
      const sent = server.requests.at(-1)?.body.messages.map((m: any) => m.content)
      assert.deepEqual(sent, ['be terse', 'first', 'echo: first (2 messages)', 'second'])
      for (let i = 0; i < 25; i++) await mesh.call('chat', { op: 'chat', text: `t${i}` })
      const history = mesh.stateOf('chat').get('history') as Array<{ content: string }>
      assert.equal(history.length, 40)
      assert.equal(history.at(-2)?.content, 't24')
      await assert.rejects(mesh.call('chat', { op: 'chat', text: '' }), { name: 'InvalidArgumentError' })
    } finally { await mesh.stop() }
  })
})

describe('built-in kinds: coordinator and workers', () => {
  it('deploys its workers spread over the nodes and counts primes exactly', async () => {
    const mesh = meshOf([coordinator, worker])
    try {
      await mesh.deployAgent('job', { kind: 'coordinator', config: { workers: 3 } })
      const nodes = ['job/w1', 'job/w2', 'job/w3'].map(id => mesh.placement(id).node)
      assert.equal(new Set(nodes).size, 3, `workers on ${nodes.join(',')}`)
      assert.deepEqual(await mesh.call('job', { op: 'start', job: { type: 'primes', from: 0, to: 100_000, chunk: 5_000 } }), { tasks: 20, jobId: 1 })
      await assert.rejects(mesh.call('job', { op: 'start', job: { type: 'primes', from: 0, to: 10, chunk: 5 } }), { name: 'ConflictError' })
      const s = await finished(mesh, 'job')
      assert.deepEqual(s, { done: 20, total: 20, result: PRIMES_BELOW_100K })
      // every worker took part
      for (const id of ['job/w1', 'job/w2', 'job/w3']) assert.ok((mesh.stateOf(id).get('tasksRun') as number) > 0, id)
      // a finished job may be replaced
      assert.deepEqual(await mesh.call('job', { op: 'start', job: { type: 'primes', from: 10, to: 30, chunk: 7 } }), { tasks: 3, jobId: 2 })
      assert.deepEqual(await finished(mesh, 'job'), { done: 3, total: 3, result: 6 })
    } finally { await mesh.stop() }
  })

  it('answers an llm job with one prompt per task, in prompt order', async () => {
    const mesh = meshOf([coordinator, worker])
    try {
      await mesh.deployAgent('ask', { kind: 'coordinator', config: { workers: 2 } })
      const prompts = ['alpha', 'beta', 'gamma', 'delta']
      assert.deepEqual(await mesh.call('ask', { op: 'start', job: { type: 'llm', prompts } }), { tasks: 4, jobId: 1 })
      const s = await finished(mesh, 'ask')
      assert.deepEqual(s.result, prompts.map(p => `echo: ${p} (1 messages)`))
    } finally { await mesh.stop() }
  })

  it('keeps the total exact when workers hang or crash mid-job', async () => {
    const runs = new Map<string, number>()
    const w2Gate = deferred<void>()
    // the real worker, with faults: w2 never finishes its first task; w3 breaks for good after two
    const flakyWorker = defineAgent({
      ...worker,
      async onMessage (message, ctx) {
        const n = (runs.get(ctx.agentId) ?? 0) + 1
        runs.set(ctx.agentId, n)
        if (ctx.agentId === 'job/w2' && n === 1) await w2Gate.promise
        if (ctx.agentId === 'job/w3' && n > 2) throw new Error('worker w3 lost its disk')
        return await worker.onMessage(message, ctx)
      }
    })
    const mesh = meshOf([coordinator, flakyWorker])
    try {
      await mesh.deployAgent('job', { kind: 'coordinator', config: { workers: 3, taskTimeoutMs: 300, workerCooldownMs: 20, maxTaskAttempts: 50 } })
      await mesh.call('job', { op: 'start', job: { type: 'primes', from: 0, to: 100_000, chunk: 4_000 } })
      const s = await finished(mesh, 'job')
      assert.deepEqual(s, { done: 25, total: 25, result: PRIMES_BELOW_100K })
      assert.ok((runs.get('job/w3') ?? 0) > 2, 'w3 failed at least once')
      const attempts = Object.entries(mesh.stateOf('job').toJSON())
        .filter(([k]) => k.startsWith('task:'))
        .reduce((sum, [, t]) => sum + (t as { attempts: number }).attempts, 0)
      assert.ok(attempts >= 2, `failed tries were recorded (${attempts})`)
      // a late or repeated result changes nothing
      assert.deepEqual(await mesh.call('job', { op: 'result', jobId: 1, taskId: 0, result: 1_000_000 }), { accepted: false })
      w2Gate.resolve()
      assert.deepEqual(await statusOf(mesh, 'job'), { done: 25, total: 25, result: PRIMES_BELOW_100K })
    } finally {
      w2Gate.resolve()
      await mesh.stop()
    }
  })

  it('resumes an in-flight job from its state after the coordinator is re-activated elsewhere', async () => {
    let passed = 0
    const hold = deferred<void>()
    // workers handle the first 6 tasks at once, then wait until the test lets them go
    const gatedWorker = defineAgent({
      ...worker,
      async onMessage (message, ctx) {
        if (++passed > 6) await hold.promise
        return await worker.onMessage(message, ctx)
      }
    })
    const mesh = meshOf([coordinator, gatedWorker])
    try {
      await mesh.deployAgent('job', { kind: 'coordinator', config: { workers: 3, taskTimeoutMs: 2_000, workerCooldownMs: 10 }, node: 'n1' })
      await mesh.call('job', { op: 'start', job: { type: 'primes', from: 0, to: 100_000, chunk: 2_500 } })
      await waitFor(async () => (await statusOf(mesh, 'job')).done >= 6, 10_000, 'six results')
      const before = await statusOf(mesh, 'job')
      assert.ok(before.done < before.total)
      await mesh.crash('job')
      const moved = await mesh.reactivate('job', 'n3')
      assert.equal(moved.node, 'n3')
      const resumed = await statusOf(mesh, 'job')
      assert.ok(resumed.done >= before.done, 'recorded results survived the move')
      hold.resolve()
      assert.deepEqual(await finished(mesh, 'job'), { done: 40, total: 40, result: PRIMES_BELOW_100K })
      assert.equal(countPrimes(0, 100_000), PRIMES_BELOW_100K)
    } finally {
      hold.resolve()
      await mesh.stop()
    }
  })

  it('refuses malformed jobs and config', async () => {
    const mesh = meshOf([coordinator, worker])
    try {
      await mesh.deployAgent('job', { kind: 'coordinator', config: { workers: 1 } })
      await assert.rejects(mesh.call('job', { op: 'start', job: { type: 'primes', from: 10, to: 5, chunk: 1 } }), { name: 'InvalidArgumentError' })
      await assert.rejects(mesh.call('job', { op: 'start', job: { type: 'primes', from: 0, to: 1e9, chunk: 1 } }), { name: 'InvalidArgumentError' })
      await assert.rejects(mesh.call('job', { op: 'start', job: { type: 'llm', prompts: [] } }), { name: 'InvalidArgumentError' })
      await assert.rejects(mesh.call('job', { op: 'start', job: { type: 'sql' } }), { name: 'InvalidArgumentError' })
      await assert.rejects(mesh.deployAgent('bad', { kind: 'coordinator', config: { workers: 0 } }), { name: 'InvalidArgumentError' })
      assert.deepEqual(await statusOf(mesh, 'job'), { done: 0, total: 0 })
    } finally { await mesh.stop() }
  })

  it('counts primes like a plain trial division would', () => {
    const slow = (a: number, b: number): number => {
      let n = 0
      for (let x = Math.max(2, a); x < b; x++) {
        let prime = true
        for (let d = 2; d * d <= x; d++) if (x % d === 0) { prime = false; break }
        if (prime) n++
      }
      return n
    }
    for (const [a, b] of [[0, 0], [0, 2], [0, 3], [2, 3], [0, 100], [97, 98], [1000, 2000], [12_345, 20_000]]) {
      assert.equal(countPrimes(a, b), slow(a, b), `[${a}, ${b})`)
    }
  })
})
