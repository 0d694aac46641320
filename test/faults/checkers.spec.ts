import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkCounter, checkReliableMessages, checkSingleActivation } from './checkers.ts'

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

  it('reliable messages: accepted ones once, unanswered ones at most once, nothing invented', () => {
    const delivered = new Map([['a', 1], ['b', 1], ['u1', 1]])
    assert.equal(checkReliableMessages({ accepted: ['a', 'b'], unknown: ['u1', 'u2'], delivered }).ok, true, 'an unanswered send may or may not arrive')
    const lost = checkReliableMessages({ accepted: ['a', 'b', 'c'], unknown: [], delivered: new Map([['a', 1], ['b', 1]]) })
    assert.match(lost.problems.join(' '), /1 accepted messages never delivered \(e.g. c\)/)
    const twice = checkReliableMessages({ accepted: ['a'], unknown: ['u'], delivered: new Map([['a', 2], ['u', 2]]) })
    assert.match(twice.problems.join(' '), /2 messages delivered more than once/)
    const invented = checkReliableMessages({ accepted: ['a'], unknown: [], delivered: new Map([['a', 1], ['z', 1]]) })
    assert.match(invented.problems.join(' '), /1 messages delivered that nobody sent \(e.g. z\)/)
  })
})
