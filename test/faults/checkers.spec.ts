import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkCounter, checkSingleActivation } from './checkers.ts'

describe('fault checkers', () => {
  it('counter: passes a clean history, catches lost, doubled and forked increments', () => {
    assert.equal(checkCounter({ attempted: 5, acked: [1, 2, 3], final: 4 }).ok, true, 'an unacknowledged increment may or may not have happened')
    const lost = checkCounter({ attempted: 5, acked: [1, 2, 3, 4], final: 3 })
    assert.equal(lost.ok, false)
    assert.match(lost.problems.join(' '), /acknowledged increments lost/)
    const twice = checkCounter({ attempted: 3, acked: [1, 2], final: 4 })
    assert.match(twice.problems.join(' '), /applied twice/)
    const forked = checkCounter({ attempted: 4, acked: [1, 2, 2, 3], final: 4 })
    assert.match(forked.problems.join(' '), /more than one increment/)
  })

  it('single activation: one owner per epoch, epochs never go back for an observer', () => {
    assert.equal(checkSingleActivation([
      { at: 1, observer: 'x', node: 'a', epoch: 1 },
      { at: 2, observer: 'y', node: 'a', epoch: 1 },
      { at: 3, observer: 'x', node: 'b', epoch: 2 }
    ]).ok, true)
    const two = checkSingleActivation([
      { at: 1, observer: 'x', node: 'a', epoch: 3 },
      { at: 2, observer: 'y', node: 'b', epoch: 3 }
    ])
    assert.match(two.problems.join(' '), /epoch 3 has two owners/)
    const back = checkSingleActivation([
      { at: 1, observer: 'x', node: 'a', epoch: 2 },
      { at: 2, observer: 'x', node: 'b', epoch: 1 }
    ])
    assert.match(back.problems.join(' '), /saw epoch 1 after 2/)
  })
})
