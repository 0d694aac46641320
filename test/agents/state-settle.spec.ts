/**
 * Settling agent state in place. Under writer epochs a rewrite keeps the entry it replaced (a
 * fence may hide the rewrite later and the old value must come back), so a state doc grows with
 * every turn until its generation is copied. Once the turn fence has released a turn (a lease held
 * throughout, or the placement read back here), every later owner takes over from what the state
 * held before that commit, so the activation deletes in place what that made unreadable for good.
 * Without a release (no ticket: no fence) nothing is deleted.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { AgentActivation, createLlmClient, defineAgent } from '../../src/agents/index.ts'
import type { AgentServices } from '../../src/agents/index.ts'
import { SwitchableState } from '../../src/agents/state-docs.ts'
import { ReplyRecords } from '../../src/agents/reply-records.ts'
import { YKeyValue, fenceDoc, type StoredKvEntry } from '../../src/consensus/crdt/index.ts'
import { ManualClock } from '../../src/util/clock.ts'

const services: AgentServices = {
  send: async () => {},
  request: async (_f, _t, m) => m,
  publish: async () => {},
  deploy: async (_f, agentId, spec) => ({ id: agentId, kind: spec.kind, node: 'n9', epoch: 0 })
}
const llm = createLlmClient({ baseUrl: 'http://127.0.0.1:9/v1', env: {} })

const counter = defineAgent({
  kind: 'counter',
  requirements: { cpu: 0.1, memoryMb: 1 },
  onMessage: (_m, ctx) => {
    const n = (ctx.state.get('n') as number ?? 0) + 1
    ctx.state.set('n', n)
    ctx.state.set(`scratch-${n % 3}`, n)
    if (n % 3 === 0) ctx.state.delete(`scratch-${n % 3}`)
    return n
  }
})

/** an activation over an epoch-stamped state doc (fenced as an activation fences it) */
function setup (withFence: boolean): { a: AgentActivation, doc: Y.Doc, state: YKeyValue, replies: YKeyValue } {
  const doc = new Y.Doc()
  fenceDoc(doc, 4)
  const state = new YKeyValue(doc.getArray<StoredKvEntry>('state'))
  const replies = new YKeyValue(doc.getArray<StoredKvEntry>('replies'))
  state.writerEpoch = 4
  replies.writerEpoch = 4
  const a = new AgentActivation({
    kind: counter,
    agentId: 'c1',
    nodeId: 'n1',
    state: new SwitchableState(state),
    replies: new ReplyRecords(new SwitchableState(replies), new ManualClock(1_000)),
    fresh: true
  }, {
    services,
    llm,
    ...(withFence ? { beginTurn: async () => ({ epoch: 4, term: 1 }) } : {}),
    commitTurn: async () => {}
  })
  return { a, doc, state, replies }
}

describe('settling agent state after released turns', () => {
  it('a released turn deletes in place what it made unreadable; the state reads the same', async () => {
    const { a, doc, state, replies } = setup(true)
    await a.start()
    for (let i = 1; i <= 60; i++) assert.equal(await a.deliver('inc', { id: `m-${i}` }), i)
    await a.stop()
    assert.deepEqual(state.toJSON(), { n: 60, 'scratch-1': 58, 'scratch-2': 59 })
    assert.equal(replies.size, 60)
    // each settle covers what the doc held before the turn: the last turn's writes stay beside
    // what they replaced, everything older is down to its winner
    const entries = doc.getArray('state').length
    assert.ok(entries <= 3 + 3, `state entries in the array after 60 turns: ${entries}`)
    const copy = new Y.Doc()
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc))
    assert.deepEqual(new YKeyValue(copy.getArray<StoredKvEntry>('state')).toJSON(), state.toJSON(), 'a replica reads the same')
  })

  it('a settle leaves with the next turn\'s writes: no more update bursts per turn than without the release', async () => {
    // a replicated doc sends the local updates of one tick as one gossip message, and every holder
    // acknowledges each: a collapse in a tick of its own after the commit made a third per turn
    const bursts = async (withFence: boolean): Promise<{ bursts: number, entries: number }> => {
      const { a, doc } = setup(withFence)
      await a.start()
      let n = 0
      let open = false
      doc.on('update', () => {
        if (open) return
        open = true
        n++
        queueMicrotask(() => { open = false })
      })
      for (let i = 1; i <= 30; i++) assert.equal(await a.deliver('inc', { id: `m-${i}` }), i)
      await a.stop()
      return { bursts: n, entries: doc.getArray('state').length }
    }
    const released = await bursts(true)
    const plain = await bursts(false)
    assert.equal(released.bursts, plain.bursts, `update bursts over 30 turns, released ${released.bursts}, without release ${plain.bursts}`)
    assert.ok(released.entries <= 3 * 3, `settled all the same: ${released.entries} state entries`)
  })

  it('without the turn fence\'s release nothing is deleted', async () => {
    const { a, doc, state } = setup(false)
    await a.start()
    for (let i = 1; i <= 60; i++) await a.deliver('inc', { id: `m-${i}` })
    await a.stop()
    assert.deepEqual(state.toJSON(), { n: 60, 'scratch-1': 58, 'scratch-2': 59 })
    assert.ok(doc.getArray('state').length >= 60 * 2, `every rewrite kept: ${doc.getArray('state').length}`)
  })
})
