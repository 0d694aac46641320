import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Inflights, Progress, ProgressState } from '../../../src/consensus/raft/progress.ts'

describe('raft Progress', () => {
  it('Inflights is a bounded ring that frees acknowledged messages in order', () => {
    const f = new Inflights(3)
    f.add(5)
    f.add(7)
    f.add(9)
    assert.equal(f.full(), true)
    assert.throws(() => { f.add(10) })
    f.freeLE(7)
    assert.equal(f.count, 1)
    f.add(11)
    f.add(13) // wraps around
    assert.equal(f.full(), true)
    f.freeLE(4)
    assert.equal(f.count, 3)
    f.freeFirstOne()
    assert.equal(f.count, 2)
    f.freeLE(100)
    assert.equal(f.count, 0)
  })

  it('probes back on rejection using the follower hint, and ignores stale rejections', () => {
    const p = new Progress(11, 4, false)
    assert.equal(p.maybeDecrTo(10, 4), true)
    assert.equal(p.next, 5)
    assert.equal(p.maybeDecrTo(10, 2), false, 'a rejection of something we no longer sent')
    p.maybeUpdate(6)
    p.becomeReplicate()
    assert.equal(p.state, ProgressState.Replicate)
    assert.equal(p.maybeDecrTo(5, 0), false, 'below match: stale')
    assert.equal(p.maybeDecrTo(9, 0), true)
    assert.equal(p.next, 7)
  })

  it('resumes after a snapshot from the snapshot index', () => {
    const p = new Progress(1, 4, false)
    p.becomeSnapshot(20)
    assert.equal(p.isPaused(), true)
    p.becomeProbe()
    assert.equal(p.next, 21)
  })
})
