import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as Y from 'yjs'
import { KindRegistry, MemoryAgentState, builtinKinds, defineAgent, validateAgentId } from '../../src/agents/index.ts'
import type { AgentState } from '../../src/agents/index.ts'
import { YKeyValue } from '../../src/consensus/crdt/index.ts'

describe('defineAgent', () => {
  const ok = { kind: 'thing', requirements: { cpu: 0.5, memoryMb: 10, tags: ['llm', 'gpu', 'llm'] }, onMessage: () => null }

  it('returns a frozen kind with normalised requirements', () => {
    const k = defineAgent(ok)
    assert.ok(Object.isFrozen(k))
    assert.ok(Object.isFrozen(k.requirements))
    assert.deepEqual(k.requirements, { cpu: 0.5, memoryMb: 10, tags: ['gpu', 'llm'] })
    assert.throws(() => { (k as any).kind = 'other' })
  })

  it('refuses bad definitions with InvalidArgumentError naming the problem', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ ...ok, kind: 'Bad Kind' }, /agent kind must match/],
      [{ ...ok, kind: '' }, /agent kind/],
      [{ ...ok, requirements: { cpu: 0, memoryMb: 1 } }, /cpu must be in/],
      [{ ...ok, requirements: { cpu: 1, memoryMb: Infinity } }, /memoryMb must be in/],
      [{ ...ok, requirements: { cpu: 1, memoryMb: 1, tags: ['no spaces'] } }, /bad tag/],
      [{ ...ok, requirements: undefined }, /requirements must be/],
      [{ ...ok, onMessage: 'nope' }, /onMessage must be a function/],
      [{ ...ok, onStart: 42 }, /onStart must be a function/],
      [null, /needs a definition/]
    ]
    for (const [def, msg] of bad) assert.throws(() => defineAgent(def as any), { name: 'InvalidArgumentError', message: msg })
  })

  it('validates agent ids: printable, bounded, slashes allowed', () => {
    assert.equal(validateAgentId('job/w1'), 'job/w1')
    for (const id of ['', 'has space', 'x'.repeat(129), 'tab\t', 7]) assert.throws(() => validateAgentId(id), { name: 'InvalidArgumentError' })
  })

  it('a registry holds each kind once and lists the names a peer advertises', () => {
    const reg = new KindRegistry(builtinKinds)
    assert.deepEqual(reg.names(), ['coordinator', 'counter', 'echo', 'inbox', 'llm-chat', 'worker'])
    reg.add(builtinKinds[0])
    assert.throws(() => reg.add(defineAgent({ ...ok, kind: 'echo' })), { name: 'InvalidArgumentError' })
    assert.throws(() => reg.add({ ...ok } as any), { name: 'InvalidArgumentError' })
  })
})

// one suite, two implementations: the in-memory state and the CRDT layer's YKeyValue
const impls: Array<[string, () => AgentState]> = [
  ['MemoryAgentState', () => new MemoryAgentState()],
  ['YKeyValue over a Y.Doc', () => new YKeyValue<unknown>(new Y.Doc().getArray('state'))]
]
for (const [name, make] of impls) {
  describe(`AgentState contract: ${name}`, () => {
    it('get/set/has/delete/entries/toJSON', () => {
      const s = make()
      assert.equal(s.get('a'), undefined)
      assert.equal(s.has('a'), false)
      s.set('a', 1)
      s.set('b', { nested: [1, 'two', null] })
      s.set('a', 2)
      assert.equal(s.get('a'), 2)
      assert.deepEqual(s.get('b'), { nested: [1, 'two', null] })
      assert.equal(s.has('b'), true)
      assert.deepEqual(Object.fromEntries(s.entries()), { a: 2, b: { nested: [1, 'two', null] } })
      s.delete('a')
      s.delete('missing')
      assert.equal(s.has('a'), false)
      assert.deepEqual(s.toJSON(), { b: { nested: [1, 'two', null] } })
      s.set('b', undefined)
      assert.deepEqual(s.toJSON(), {})
    })
  })
}

describe('MemoryAgentState', () => {
  it('stores copies, so mutating a value read from state changes nothing (as with a replicated doc)', () => {
    const s = new MemoryAgentState()
    const v = { list: [1] }
    s.set('k', v)
    v.list.push(2)
    const read = s.get('k') as { list: number[] }
    read.list.push(3)
    assert.deepEqual(s.get('k'), { list: [1] })
  })

  it('refuses values that are not JSON', () => {
    const s = new MemoryAgentState()
    const cyclic: any = {}
    cyclic.self = cyclic
    assert.throws(() => s.set('k', cyclic), { name: 'InvalidArgumentError' })
    assert.throws(() => s.set('k', () => 1), { name: 'InvalidArgumentError' })
  })
})
