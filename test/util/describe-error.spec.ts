/** describeError names whatever was thrown: Errors, the events browsers reject with, plain values */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { describeError, UnreachableError } from '../../src/errors.ts'

describe('describeError', () => {
  it('gives an Error its name and message', () => {
    assert.deepEqual(describeError(new UnreachableError('gone')), { name: 'UnreachableError', message: 'gone' })
  })

  it('says what an event was instead of "undefined", and reads the error an error event carries', () => {
    assert.deepEqual(describeError(new Event('close')), { name: 'Event', message: "Event of type 'close'" })
    const withError = Object.assign(new Event('error'), { error: new TypeError('ICE failed') })
    assert.deepEqual(describeError(withError), { name: 'TypeError', message: 'ICE failed' })
    // events that carry each other end, not loop
    const a = Object.assign(new Event('error'), { error: undefined as unknown })
    const b = Object.assign(new Event('error'), { error: a })
    a.error = b
    assert.equal(describeError(a).name, 'Event')
  })

  it('turns plain values into text', () => {
    assert.deepEqual(describeError('boom'), { name: 'Error', message: 'boom' })
    assert.deepEqual(describeError(undefined), { name: 'Error', message: 'undefined' })
    assert.deepEqual(describeError({ message: 'shaped like an error' }), { name: 'Error', message: 'shaped like an error' })
  })
})
