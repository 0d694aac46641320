/**
 * truncateUtf8: the one cut for text bounded on the wire (Raft refusal reasons, kv error messages).
 * It must fit the byte bound exactly, never split a character (a split one would be sent as
 * U+FFFD, or a lone surrogate), and leave text that fits alone.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { truncateUtf8, utf8Encoder } from '../../src/util/utf8.ts'
import { decodeRefusalFrame, encodeRefusal } from '../../src/consensus/raft-wire.ts'
import { decodeResult, encodeResult } from '../../src/consensus/kv/result-codec.ts'
import { MAX_RAFT_REFUSAL_REASON_BYTES } from '../../src/consensus/constants.ts'
import { MAX_ERROR_MESSAGE_BYTES } from '../../src/consensus/kv/constants.ts'

const bytesOf = (s: string): number => utf8Encoder.encode(s).byteLength

describe('truncateUtf8', () => {
  it('leaves text that fits as it is, up to the last byte', () => {
    assert.equal(truncateUtf8('', 3), '')
    assert.equal(truncateUtf8('abcde', 5), 'abcde')
    assert.equal(truncateUtf8('ééé', 6), 'ééé')
  })

  it('cuts at a character boundary and marks the cut, within the bound', () => {
    assert.equal(truncateUtf8('abcdefgh', 6), 'abc...')
    // 'é' is 2 bytes: 7 - 3 = 4 bytes is two of them
    assert.equal(truncateUtf8('ééééé', 7), 'éé...')
    // 5 bytes of room for 2-byte characters: two fit, the third would be split
    assert.equal(truncateUtf8('ééééé', 8), 'éé...')
    // a 4-byte character (a surrogate pair in JS) is kept whole or left out whole
    assert.equal(truncateUtf8('a😀b😀', 6), 'a...')
    assert.equal(truncateUtf8('a😀b😀', 8), 'a😀...')
    assert.equal(truncateUtf8('😀😀', 3), '...')
  })

  it('refuses a bound with no room for the marker', () => {
    assert.throws(() => truncateUtf8('abc', 2), { name: 'InvalidArgumentError' })
    assert.throws(() => truncateUtf8('abc', Number.NaN), { name: 'InvalidArgumentError' })
  })

  it('for any text and bound: fits, is a prefix of whole characters, and is the longest such (seeded)', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 60 }), fc.integer({ min: 3, max: 80 }), (raw, max) => {
      // lone surrogates become U+FFFD, as they would on the wire
      const s = new TextDecoder().decode(utf8Encoder.encode(raw))
      const out = truncateUtf8(s, max)
      assert.ok(bytesOf(out) <= max)
      if (bytesOf(s) <= max) { assert.equal(out, s); return }
      assert.ok(out.endsWith('...'))
      const kept = out.slice(0, -3)
      assert.ok(s.startsWith(kept))
      const next = [...s.slice(kept.length)][0]
      assert.ok(bytesOf(kept) + bytesOf(next) > max - 3, 'the next character would not have fitted')
    }), { seed: 4242, numRuns: 200 })
  })

  it('bounds a Raft refusal reason and a kv error message the same way', () => {
    const reason = decodeRefusalFrame(encodeRefusal({ subject: 'proposal', reason: 'x\n😀'.repeat(MAX_RAFT_REFUSAL_REASON_BYTES) })).reason
    assert.ok(bytesOf(reason) <= MAX_RAFT_REFUSAL_REASON_BYTES)
    assert.ok(reason.startsWith('x 😀x 😀') && reason.endsWith('...'), 'control characters become spaces, whole characters kept')
    assert.ok(!reason.includes('\uFFFD'))
    const result = decodeResult(encodeResult({ type: 'error', name: 'ConflictError', message: 'é😀'.repeat(MAX_ERROR_MESSAGE_BYTES) }))
    assert.equal(result.type, 'error')
    const message = result.type === 'error' ? result.message : ''
    assert.ok(bytesOf(message) <= MAX_ERROR_MESSAGE_BYTES && message.endsWith('...'))
    assert.ok(!message.includes('\uFFFD'), 'no surrogate pair was split')
  })
})
