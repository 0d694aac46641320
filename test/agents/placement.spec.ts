import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ResourceLedger, agentsRecordExt, defineAgent, hostedKinds, rankPlacement, scorePlacement } from '../../src/agents/index.ts'
import type { PlacementCandidate, PlacementRecord } from '../../src/agents/index.ts'
import { CapacityError } from '../../src/errors.ts'

const counter = defineAgent({ kind: 'counter', requirements: { cpu: 0.5, memoryMb: 64 }, onMessage: () => null })
const llmKind = defineAgent({ kind: 'llm-chat', requirements: { cpu: 1, memoryMb: 256, tags: ['llm'] }, onMessage: () => null })

function node (peerId: string, over: Partial<PlacementRecord> = {}, kinds = ['counter', 'llm-chat']): PlacementRecord {
  return {
    peerId,
    role: 'node',
    hidden: false,
    capabilities: { cpu: 4, memoryMb: 1024, tags: [] },
    load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 50, eventLoopLagMs: 1 },
    ext: { ...agentsRecordExt(kinds) },
    ...over
  }
}
const cand = (record: PlacementRecord, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({ record, ...extra })

describe('placement scorer', () => {
  it('prefers the emptier node and breaks exact ties by peer id', () => {
    const busy = node('p-b', { load: { agents: 3, cpu: 3, memoryMb: 100, rssMb: 1, eventLoopLagMs: 0 } })
    const idle = node('p-c')
    const twin = node('p-a')
    assert.deepEqual(scorePlacement(counter, [cand(busy), cand(idle), cand(twin)]).map(r => r.peerId), ['p-a', 'p-c', 'p-b'])
  })

  it('ranks Node peers, then relays, then visible tabs, then hidden tabs; lag counts against a peer', () => {
    const ranked = scorePlacement(counter, [
      cand(node('hidden', { role: 'browser', hidden: true })),
      cand(node('tab', { role: 'browser' })),
      cand(node('relay', { role: 'relay' })),
      cand(node('laggy', { load: { agents: 0, cpu: 0, memoryMb: 0, rssMb: 1, eventLoopLagMs: 400 } })),
      cand(node('calm'))
    ])
    assert.deepEqual(ranked.map(r => r.peerId), ['calm', 'laggy', 'relay', 'tab', 'hidden'])
  })

  it('refuses peers without the kind, without the tags, without room, failed or excluded — and says why', () => {
    const candidates = [
      cand(node('no-kind', {}, ['counter'])),
      cand(node('no-tag')),
      cand(node('full-cpu', { capabilities: { cpu: 1.5, memoryMb: 4096, tags: ['llm'] }, load: { agents: 1, cpu: 1, memoryMb: 10, rssMb: 1, eventLoopLagMs: 0 } })),
      cand(node('reserved-mem', { capabilities: { cpu: 8, memoryMb: 512, tags: ['llm'] } }), { reserved: { memoryMb: 300 } }),
      cand(node('dead', { capabilities: { cpu: 8, memoryMb: 4096, tags: ['llm'] } }), { status: 'failed' }),
      cand(node('skip', { capabilities: { cpu: 8, memoryMb: 4096, tags: ['llm'] } })),
      cand(node('crowded', { capabilities: { cpu: 8, memoryMb: 4096, tags: ['llm'] }, ext: { kinds: ['llm-chat'], maxAgents: 2 }, load: { agents: 2, cpu: 0, memoryMb: 0, rssMb: 1, eventLoopLagMs: 0 } }))
    ]
    assert.throws(() => scorePlacement(llmKind, candidates, { exclude: ['skip'] }), (err: unknown) => {
      assert.ok(err instanceof CapacityError)
      assert.match(err.message, /no-kind: does not host kind llm-chat/)
      assert.match(err.message, /no-tag: missing tags: llm/)
      assert.match(err.message, /full-cpu: cpu: needs 1, free 0.5 of 1.5/)
      assert.match(err.message, /reserved-mem: memory: needs 256 MB, free 212 of 512 MB/)
      assert.match(err.message, /dead: failed/)
      assert.match(err.message, /skip: excluded/)
      assert.match(err.message, /crowded: agents: 2 of 2 hosted/)
      const refused = err.details?.refused as Array<{ peerId: string }>
      assert.equal(refused.length, 7)
      return true
    })
    assert.throws(() => scorePlacement(counter, []), { name: 'CapacityError', message: /no candidates/ })
  })

  it('ranks suspect peers after alive ones', () => {
    const ranked = scorePlacement(counter, [cand(node('a'), { status: 'suspect' }), cand(node('b', { role: 'relay' }), { status: 'alive' })])
    assert.deepEqual(ranked.map(r => [r.peerId, r.status]), [['b', 'alive'], ['a', 'suspect']])
  })

  it('puts the preferred peer first when it fits, and ignores it when it does not', () => {
    const list = [cand(node('a')), cand(node('b', { load: { agents: 5, cpu: 2, memoryMb: 0, rssMb: 1, eventLoopLagMs: 0 } }))]
    assert.equal(scorePlacement(counter, list, { preferred: 'b' })[0].peerId, 'b')
    const full = [cand(node('a')), cand(node('b', { capabilities: { cpu: 0.1, memoryMb: 1, tags: [] } }))]
    assert.deepEqual(scorePlacement(counter, full, { preferred: 'b' }).map(r => r.peerId), ['a'])
  })

  it('spreads with anti-affinity: peers hosting the avoided agents or kinds go last', () => {
    const list = [
      cand(node('a'), { agents: [{ id: 'job/w1', kind: 'worker' }] }),
      cand(node('b', { load: { agents: 1, cpu: 1, memoryMb: 0, rssMb: 1, eventLoopLagMs: 0 } }), { agents: [{ id: 'x', kind: 'counter' }] }),
      cand(node('c', { load: { agents: 2, cpu: 2, memoryMb: 0, rssMb: 1, eventLoopLagMs: 0 } }))
    ]
    assert.deepEqual(scorePlacement(counter, list, { antiAffinity: { agentIds: ['job/w1'] } }).map(r => r.peerId), ['b', 'c', 'a'])
    assert.deepEqual(scorePlacement(counter, list, { antiAffinity: { kinds: ['worker', 'counter'] } }).map(r => r.peerId), ['c', 'a', 'b'])
  })

  it('treats a malformed record as unable to host, never as a crash', () => {
    const bad = { ...node('bad'), capabilities: { cpu: 'lots', memoryMb: -1, tags: 'x' } } as unknown as PlacementRecord
    const noExt = { ...node('noext'), ext: { kinds: 'counter' } } as PlacementRecord
    const { ranked, refused } = rankPlacement(counter, [cand(bad), cand(noExt), cand(node('ok'))])
    assert.deepEqual(ranked.map(r => r.peerId), ['ok'])
    assert.deepEqual(refused.map(r => r.peerId), ['bad', 'noext'])
    assert.equal(hostedKinds(noExt), undefined)
  })

  it('is deterministic: the same candidates in any order give the same ranking', () => {
    const arb = fc.array(fc.record({
      id: fc.string({ minLength: 1, maxLength: 4 }),
      role: fc.constantFrom('node', 'relay', 'browser'),
      hidden: fc.boolean(),
      cpu: fc.integer({ min: 0, max: 8 }),
      used: fc.integer({ min: 0, max: 8 }),
      lag: fc.integer({ min: 0, max: 1000 })
    }), { maxLength: 12 })
    fc.assert(fc.property(arb, fc.integer(), (specs, seed) => {
      const cands = specs.map(s => cand(node(s.id, {
        role: s.role as PlacementRecord['role'],
        hidden: s.hidden,
        capabilities: { cpu: s.cpu, memoryMb: 1024, tags: [] },
        load: { agents: s.used, cpu: s.used / 2, memoryMb: 0, rssMb: 1, eventLoopLagMs: s.lag }
      })))
      const shuffled = [...cands].sort((a, b) => ((a.record.peerId.charCodeAt(0) * seed) % 7) - ((b.record.peerId.charCodeAt(0) * seed) % 7))
      const one = rankPlacement(counter, cands).ranked.map(r => r.peerId)
      const two = rankPlacement(counter, shuffled).ranked.map(r => r.peerId)
      // duplicates of an id keep the first seen, which may differ between orders
      if (new Set(specs.map(s => s.id)).size === specs.length) assert.deepEqual(one, two)
    }))
  })
})

describe('ResourceLedger', () => {
  it('reserves until full, refuses with the reason, and frees on release', () => {
    const ledger = new ResourceLedger({ cpu: 1, memoryMb: 100, maxAgents: 20 })
    for (let i = 0; i < 10; i++) ledger.reserve(`a${i}`, { cpu: 0.1, memoryMb: 5, kind: 'counter' })
    assert.deepEqual(ledger.used(), { cpu: 1, memoryMb: 50, agents: 10 }, 'ten 0.1-cpu agents add up to exactly 1')
    assert.throws(() => ledger.reserve('a10', { cpu: 0.1, memoryMb: 5 }), { name: 'CapacityError', message: /cpu: needs 0.1, free 0 of 1/ })
    assert.equal(ledger.release('a3'), true)
    assert.equal(ledger.release('a3'), false)
    ledger.reserve('a10', { cpu: 0.1, memoryMb: 5 })
    assert.deepEqual(ledger.available(), { cpu: 0, memoryMb: 50, agents: 10 })
  })

  it('is idempotent for the same reservation and refuses a different one for the same agent', () => {
    const ledger = new ResourceLedger({ cpu: 2, memoryMb: 100 })
    ledger.reserve('x', { cpu: 1, memoryMb: 10 })
    ledger.reserve('x', { cpu: 1, memoryMb: 10 })
    assert.equal(ledger.used().agents, 1)
    assert.throws(() => ledger.reserve('x', { cpu: 0.5, memoryMb: 10 }), { name: 'ConflictError' })
    assert.throws(() => ledger.reserve('y', { cpu: -1, memoryMb: 10 }), { name: 'InvalidArgumentError' })
    assert.throws(() => ledger.get('nope'), { name: 'NotFoundError' })
  })

  it('enforces the agent count and reports itself as JSON', () => {
    const ledger = new ResourceLedger({ cpu: 10, memoryMb: 1000, maxAgents: 1 })
    ledger.reserve('only', { cpu: 0.25, memoryMb: 16, kind: 'echo' })
    assert.throws(() => ledger.reserve('second', { cpu: 0.25, memoryMb: 16 }), { name: 'CapacityError', message: /agents: 1 of 1 hosted/ })
    assert.equal(ledger.fits({ cpu: 0.1, memoryMb: 1 }), false)
    assert.deepEqual(JSON.parse(JSON.stringify(ledger)), {
      capacity: { cpu: 10, memoryMb: 1000, maxAgents: 1 },
      used: { cpu: 0.25, memoryMb: 16, agents: 1 },
      available: { cpu: 9.75, memoryMb: 984, agents: 0 },
      reservations: [{ agentId: 'only', cpu: 0.25, memoryMb: 16, kind: 'echo' }]
    })
  })
})
