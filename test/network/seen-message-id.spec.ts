import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { seenMessageId } from '../../src/network/libp2p.ts'

describe('seenMessageId (gossipsub\'s id for a copy before its signature is checked)', () => {
  const from = Uint8Array.from([0, 36, 8, 1, 18, 32, 7, 7])
  const other = Uint8Array.from([0, 36, 8, 1, 18, 32, 9, 9])
  const seqno = (n: number): Uint8Array => Uint8Array.from([0, 0, 0, 0, 0, 0, 0, n])

  it('is the same for two copies of one message and differs between messages', () => {
    assert.equal(seenMessageId({ from, seqno: seqno(1) }), seenMessageId({ from: from.slice(), seqno: seqno(1) }))
    assert.notEqual(seenMessageId({ from, seqno: seqno(1) }), seenMessageId({ from, seqno: seqno(2) }))
    assert.notEqual(seenMessageId({ from, seqno: seqno(1) }), seenMessageId({ from: other, seqno: seqno(1) }))
  })

  it('is empty for a message without author or sequence number (StrictSign rejects those, so it is never recorded)', () => {
    assert.equal(seenMessageId({ seqno: seqno(1) }), '')
    assert.equal(seenMessageId({ from }), '')
  })
})
