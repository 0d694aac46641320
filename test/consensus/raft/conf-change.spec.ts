import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfChangeType, decodeConfChange, encodeConfChange } from '../../../src/consensus/raft/index.ts'

describe('ConfChange encoding', () => {
  it('round-trips every change type', () => {
    for (const type of [ConfChangeType.AddNode, ConfChangeType.RemoveNode, ConfChangeType.AddLearner]) {
      for (const nodeId of ['12D3KooWQ-ünïcode', '\uFEFFleading-bom']) {
        const cc = { type, nodeId }
        assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc)
      }
    }
  })

  it('refuses bad input with typed errors', () => {
    assert.throws(() => decodeConfChange(new Uint8Array([1, 0])), { name: 'InvalidMessageError' })
    assert.throws(() => decodeConfChange(new Uint8Array([2, 0, 65])), { name: 'UnsupportedVersionError' })
    assert.throws(() => decodeConfChange(new Uint8Array([1, 9, 65])), { name: 'InvalidMessageError' })
    assert.throws(() => decodeConfChange(new Uint8Array([1, 0, 0xff, 0xfe])), { name: 'InvalidMessageError' })
    assert.throws(() => decodeConfChange(new Uint8Array(300).fill(65).fill(1, 0, 1).fill(0, 1, 2)), { name: 'InvalidMessageError' })
    assert.throws(() => encodeConfChange({ type: ConfChangeType.AddNode, nodeId: '' }), { name: 'InvalidMessageError' })
  })
})
