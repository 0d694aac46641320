import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { BootstrapWatch, planAutopilot, voterTarget } from '../../src/consensus/autopilot.ts'
import type { AutopilotPeer, AutopilotView } from '../../src/consensus/autopilot.ts'

const G = 'group-1'

function peer (id: string, o: Partial<AutopilotPeer> = {}): AutopilotPeer {
  return { id, role: 'node', hidden: false, up: true, upForMs: 60_000, downForMs: 0, raft: { candidate: true, group: G }, ...o }
}

function view (o: Partial<AutopilotView> & { peerList: AutopilotPeer[] }): AutopilotView {
  const progress: AutopilotView['progress'] = { leader: { match: 100, recentActive: true } }
  for (const p of o.peerList) progress[p.id] = { match: p.up ? 100 : 10, recentActive: p.up }
  return {
    self: 'leader',
    group: G,
    voters: ['leader'],
    learners: [],
    peers: new Map(o.peerList.map(p => [p.id, p])),
    progress,
    commit: 100,
    ...o
  }
}

describe('voter autopilot', () => {
  it('adds peers that run consensus as learners, Node peers before tabs, and ignores other groups', () => {
    const v = view({ peerList: [peer('tab', { role: 'browser' }), peer('n2'), peer('other', { raft: { candidate: true, group: 'g2' } }), peer('plain', { raft: undefined })] })
    assert.deepEqual(planAutopilot(v), { kind: 'add-learner', peer: 'n2', reason: 'runs consensus outside the group' })
    assert.equal(planAutopilot({ ...v, learners: ['n2', 'tab'] }), undefined, 'one promotable learner: one voter rather than two')
    const two = view({ peerList: [peer('n2'), peer('n3')], learners: ['n2', 'n3'] })
    assert.equal(planAutopilot(two)?.kind, 'promote', 'two promotable learners: 1 -> 3')
    assert.deepEqual(planAutopilot({ ...two, voters: ['leader', 'n2'], learners: ['n3'] }), { kind: 'promote', peer: 'n3', reason: '2 voters, 3 wanted' })
  })

  it('promotes caught-up stable Node peers up to 3 voters, 5 with five stable peers, never tabs', () => {
    const list = [peer('a'), peer('b'), peer('c', { upForMs: 100 }), peer('tab', { role: 'browser' })]
    const v = view({ peerList: list, voters: ['leader'], learners: ['a', 'b', 'c', 'tab'] })
    assert.equal(voterTarget(v), 3)
    assert.deepEqual(planAutopilot(v)?.peer, 'a')
    assert.equal(planAutopilot({ ...v, voters: ['leader', 'a', 'b'], learners: ['c', 'tab'] }), undefined, 'c is not stable yet; the tab never votes')
    const five = view({ peerList: [peer('a'), peer('b'), peer('c'), peer('d')], voters: ['leader', 'a', 'b'], learners: ['c', 'd'] })
    assert.equal(voterTarget(five), 5)
    assert.equal(planAutopilot(five)?.kind, 'promote')
    const behind = { ...five, commit: 1000, progress: { ...five.progress, c: { match: 1, recentActive: true }, d: { match: 1, recentActive: true } } }
    assert.equal(planAutopilot(behind), undefined, 'learners far behind the commit index wait')
    const young = view({ peerList: [peer('c'), peer('d')], learners: ['c', 'd'], commit: 30 })
    assert.equal(planAutopilot({ ...young, progress: { ...young.progress, c: { match: 30, recentActive: true }, d: { match: 0, recentActive: true } } }), undefined,
      'a learner that acknowledged nothing yet is not caught up, even 30 entries into a new group')
    assert.equal(planAutopilot({ ...young, progress: { ...young.progress, c: { match: 30, recentActive: true }, d: { match: 1, recentActive: true } } })?.kind, 'promote')
  })

  it('replaces a voter failed beyond the grace: promote a spare first, then remove the failed one', () => {
    const list = [peer('a'), peer('dead', { up: false, upForMs: 0, downForMs: 6000 }), peer('spare')]
    const v = view({ peerList: list, voters: ['leader', 'a', 'dead'], learners: ['spare'] })
    assert.deepEqual(planAutopilot(v)?.kind, 'promote')
    assert.equal(planAutopilot(v)?.peer, 'spare')
    const after = { ...v, voters: ['leader', 'a', 'dead', 'spare'], learners: [] }
    assert.deepEqual(planAutopilot(after)?.kind, 'remove')
    assert.equal(planAutopilot(after)?.peer, 'dead')
    const brief = view({ peerList: [peer('a'), peer('dead', { up: false, upForMs: 0, downForMs: 1000 }), peer('spare')], voters: ['leader', 'a', 'dead', 'spare'] })
    assert.equal(planAutopilot(brief), undefined, 'a voter down briefly is kept')
  })

  it('adds a voter removed while it was down back as a learner when it returns (it still announces the group)', () => {
    const back = peer('back', { upForMs: 500 })
    const v = view({ peerList: [peer('a'), peer('b'), peer('c'), back], voters: ['leader', 'a', 'b', 'c'] })
    assert.deepEqual(planAutopilot(v), { kind: 'add-learner', peer: 'back', reason: 'runs consensus outside the group' })
    assert.equal(planAutopilot({ ...v, peers: new Map([...v.peers, ['back', { ...back, up: false, upForMs: 0, downForMs: 100 }]]) }), undefined, 'not while it is still down')
  })

  it('drops learners gone for long', () => {
    const v = view({ peerList: [peer('a'), peer('b'), peer('gone', { up: false, upForMs: 0, downForMs: 60_000 })], voters: ['leader', 'a', 'b'], learners: ['gone'] })
    assert.deepEqual(planAutopilot(v), { kind: 'remove', peer: 'gone', reason: 'learner down for 60 s' })
  })
})

describe('bootstrap watch', () => {
  it('the lowest groupless candidate bootstraps once the set is settled and large enough', () => {
    const w = new BootstrapWatch('a', 3, 0)
    assert.equal(w.observe(0, ['b', 'c'], false), false, 'not settled yet')
    assert.equal(w.observe(2000, ['b', 'c'], false), true)
    const b = new BootstrapWatch('b', 3, 0)
    assert.equal(b.observe(2000, ['a', 'c'], false), false, 'only the lowest id bootstraps')
    assert.equal(b.observe(2000, ['c'], false), false, 'the candidate set changed: wait again')
  })

  it('the same candidates in another order (or repeated) are no change; another candidate of the same count is', () => {
    const w = new BootstrapWatch('a', 3, 0)
    w.observe(0, ['c', 'b'], false)
    assert.equal(w.observe(1000, ['b', 'c', 'b'], false), false, 'not settled yet')
    assert.equal(w.observe(1500, ['b', 'c'], false), true, 'settled since 0: the reordering changed nothing')
    assert.equal(w.observe(1600, ['b', 'd'], false), false, 'd instead of c: wait again')
    assert.equal(w.observe(3100, ['d', 'b'], false), true)
    assert.deepEqual(w.founders(), ['a', 'b', 'd'])
  })

  it('founds with the three lowest of the settled set, or alone with fewer (never two)', () => {
    const w = new BootstrapWatch('a', 3, 0)
    assert.equal(w.observe(2000, ['d', 'c', 'b'], false), false, 'the set just changed')
    assert.equal(w.observe(4000, ['d', 'c', 'b'], false), true)
    assert.deepEqual(w.founders(), ['a', 'b', 'c'])
    const two = new BootstrapWatch('a', 3, 0)
    two.observe(0, ['b'], false)
    assert.equal(two.observe(5000, ['b'], false), true, 'after the wait, with two candidates')
    assert.deepEqual(two.founders(), ['a'])
  })

  it('with fewer candidates it waits longer; never when a group is already announced', () => {
    const w = new BootstrapWatch('a', 3, 0)
    assert.equal(w.observe(0, [], false), false)
    assert.equal(w.observe(2000, [], false), false)
    assert.equal(w.observe(5000, [], false), true)
    const g = new BootstrapWatch('a', 3, 0)
    assert.equal(g.observe(0, ['b', 'c'], true), false)
    assert.equal(g.observe(10_000, ['b', 'c'], true), false)
  })
})
