import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeRaftFrame, encodeHello, encodeMessage, encodeSnapshotChunk, packMessages
} from '../../src/consensus/raft-wire.ts'
import { chunkSnapshot, newMessage, SnapshotReassembler } from '../../src/consensus/raft/index.ts'
import type { Message } from '../../src/consensus/raft/index.ts'

const EntryNormal = 0
const EntryConf = 1
const MsgApp = 3
const MsgAppResp = 4
const MsgSnap = 9
const MsgReadIndex = 16

function app (): Message {
  const m = newMessage(MsgApp, 'b', 'a', 7)
  m.logTerm = 6
  m.index = 41
  m.commit = 40
  m.entries = [
    { term: 6, index: 42, type: EntryNormal, data: new Uint8Array([1, 2, 3]) },
    { term: 7, index: 43, type: EntryConf, data: new Uint8Array([1, 0, 120]) },
    { term: 7, index: 44, type: EntryNormal, data: new Uint8Array(0) }
  ]
  return m
}

describe('raft transport frames', () => {
  it('round-trips a batch of messages; from and to come from the connection, not the bytes', () => {
    const resp = newMessage(MsgAppResp, 'b', 'a', 7)
    resp.reject = true
    resp.rejectHint = 39
    resp.index = 44
    const read = newMessage(MsgReadIndex, 'b', 'a', 7)
    read.context = new Uint8Array([9, 9])
    read.entries = [{ term: 0, index: 0, type: EntryNormal, data: new Uint8Array([5]) }]
    const frame = packMessages([app(), resp, read].map(encodeMessage))
    const f = decodeRaftFrame(frame, 'sender', 'me')
    assert.equal(f.kind, 'messages')
    if (f.kind !== 'messages') return
    assert.deepEqual(f.messages, [app(), resp, read].map(m => ({ ...m, from: 'sender', to: 'me' })))
  })

  it('round-trips the hello and snapshot chunks, which reassemble into the snapshot', () => {
    assert.deepEqual(decodeRaftFrame(encodeHello('group-1'), 'x', 'y'), { kind: 'hello', groupId: 'group-1' })
    const data = new Uint8Array(1000).map((_, i) => i % 251)
    const snap = { metadata: { index: 90, term: 5, confState: { voters: ['a', 'b'], learners: ['c'] } }, data }
    const m = newMessage(MsgSnap, 'b', 'a', 5)
    m.snapshot = snap
    const chunks = chunkSnapshot(snap, 300)
    assert.equal(chunks.length, 4)
    const r = new SnapshotReassembler()
    let whole
    for (const c of chunks) {
      const f = decodeRaftFrame(encodeSnapshotChunk(m, c), 'a', 'b')
      assert.equal(f.kind, 'chunk')
      if (f.kind === 'chunk') { assert.equal(f.message.type, MsgSnap); whole = r.push(f.chunk) }
    }
    assert.deepEqual(whole, snap)
  })

  it('refuses truncated, unknown and oversized input with typed errors', () => {
    const frame = packMessages([encodeMessage(app())])
    assert.throws(() => decodeRaftFrame(frame.subarray(0, frame.length - 2), 'a', 'b'), { name: 'InvalidMessageError' })
    const wrongVersion = frame.slice()
    wrongVersion[0] = 9
    assert.throws(() => decodeRaftFrame(wrongVersion, 'a', 'b'), { name: 'UnsupportedVersionError' })
    const badKind = frame.slice()
    badKind[1] = 77
    assert.throws(() => decodeRaftFrame(badKind, 'a', 'b'), { name: 'InvalidMessageError' })
    const badType = packMessages([encodeMessage({ ...app(), entries: [] })])
    badType[3] = 200 // the first message's type
    assert.throws(() => decodeRaftFrame(badType, 'a', 'b'), { name: 'InvalidMessageError' })
    // a count claiming more messages than bytes left
    assert.throws(() => decodeRaftFrame(new Uint8Array([1, 2, 0xff, 0x7f]), 'a', 'b'), (err: Error) => err.name === 'InvalidMessageError' || err.name === 'MessageTooLargeError')
    assert.throws(() => encodeMessage({ ...app(), snapshot: { metadata: { index: 1, term: 1, confState: { voters: [], learners: [] } }, data: new Uint8Array(0) } }), { name: 'InvalidArgumentError' })
  })
})
