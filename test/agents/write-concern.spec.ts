import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeConcernFor } from '../../src/agents/write-concern.ts'

describe('write concern', () => {
  it('asks for the configured number of replicas when that many peers are around', () => {
    assert.equal(writeConcernFor(1, 3, () => ['a', 'b', 'c'], 'a'), 1)
    assert.equal(writeConcernFor(2, 2, () => ['a', 'b', 'c'], 'a'), 2)
  })

  it('asks for fewer when fewer peers are around, but never none while others are in the Raft group', () => {
    assert.equal(writeConcernFor(2, 1, () => ['a', 'b', 'c'], 'a'), 1)
    // cut off: every other peer looks failed. Acknowledging with the state here alone would lose
    // the turn when the lease moves to a peer that activates from the replicas
    assert.equal(writeConcernFor(1, 0, () => ['a', 'b', 'c'], 'a'), 1)
    assert.equal(writeConcernFor(1, 0, () => ['b', 'c'], 'a'), 1, 'a learner cut off from the voters')
  })

  it('needs no replica on a peer that is the whole group (a one-peer mesh), or when configured so', () => {
    assert.equal(writeConcernFor(1, 0, () => ['a'], 'a'), 0)
    assert.equal(writeConcernFor(1, 0, () => [], 'a'), 0)
    assert.equal(writeConcernFor(0, 3, () => ['a', 'b', 'c'], 'a'), 0)
  })
})
