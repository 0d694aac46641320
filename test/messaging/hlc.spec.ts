import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeHlc, encodeHlc } from '../../src/messaging/hlc.ts'
import { thrownName } from './helpers.ts'

describe('HLC timestamps on the wire', () => {
  it('encode and decode as two varuints; malformed or non-integer ones are refused', () => {
    const ts = [{ wallMs: 2, logical: 0 }, { wallMs: 1, logical: 10 }, { wallMs: 1_700_000_000_000, logical: 0xffff_ffff }]
    for (const t of ts) assert.deepEqual(decodeHlc(encodeHlc(t)), t)
    assert.equal(thrownName(() => decodeHlc(new Uint8Array([0x80]))), 'InvalidMessageError')
    assert.equal(thrownName(() => decodeHlc(new Uint8Array([1, 1, 1]))), 'InvalidMessageError')
    assert.equal(thrownName(() => encodeHlc({ wallMs: 1.5, logical: 0 })), 'InvalidArgumentError')
  })
})
