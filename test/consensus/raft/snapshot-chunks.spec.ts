import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SnapshotReassembler, chunkSnapshot } from '../../../src/consensus/raft/index.ts'
import type { Snapshot, SnapshotChunk } from '../../../src/consensus/raft/index.ts'

function snapshot (size: number, index = 10): Snapshot {
  const data = new Uint8Array(size)
  for (let i = 0; i < size; i++) data[i] = (i * 31 + 7) & 0xff
  return { metadata: { index, term: 3, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } }, data }
}

function reassemble (chunks: SnapshotChunk[], r = new SnapshotReassembler()): Snapshot | undefined {
  let out: Snapshot | undefined
  for (const c of chunks) out = r.push(c)
  return out
}

describe('snapshot chunking', () => {
  for (const [size, chunk] of [[0, 16], [1, 16], [16, 16], [17, 16], [1000, 7], [4096, 1024]]) {
    it(`round-trips ${size} bytes in chunks of ${chunk}`, () => {
      const s = snapshot(size)
      const chunks = chunkSnapshot(s, chunk)
      assert.equal(chunks.length, Math.max(1, Math.ceil(size / chunk)))
      assert.ok(chunks.every(c => c.data.byteLength <= chunk))
      assert.deepEqual(reassemble(chunks), s)
    })
  }

  it('returns nothing until the last chunk', () => {
    const chunks = chunkSnapshot(snapshot(100), 30)
    const r = new SnapshotReassembler()
    assert.equal(r.push(chunks[0]), undefined)
    assert.equal(r.pendingIndex, 10)
    assert.equal(r.push(chunks[1]), undefined)
  })

  it('refuses a chunk out of order, or without its first chunk', () => {
    const chunks = chunkSnapshot(snapshot(100), 30)
    const r = new SnapshotReassembler()
    assert.throws(() => r.push(chunks[1]), { name: 'InvalidMessageError' })
    r.push(chunks[0])
    assert.throws(() => r.push(chunks[2]), { name: 'InvalidMessageError' })
    // after a refusal the transfer starts over from the first chunk
    assert.deepEqual(reassemble(chunks, r), snapshot(100))
  })

  it('starts over when the first chunk of another snapshot arrives', () => {
    const older = chunkSnapshot(snapshot(100, 10), 30)
    const newer = chunkSnapshot(snapshot(50, 20), 30)
    const r = new SnapshotReassembler()
    r.push(older[0])
    r.push(older[1])
    assert.deepEqual(reassemble(newer, r), snapshot(50, 20))
    assert.throws(() => r.push(older[2]), { name: 'InvalidMessageError' })
  })

  it('refuses snapshots above the size limit and malformed or lying chunks', () => {
    const r = new SnapshotReassembler(64)
    assert.throws(() => r.push(chunkSnapshot(snapshot(65), 30)[0]), { name: 'MessageTooLargeError' })
    const c = chunkSnapshot(snapshot(40), 30)
    assert.throws(() => r.push({ ...c[0], seq: -1 }), { name: 'InvalidMessageError' })
    assert.throws(() => r.push({ ...c[0], metadata: undefined }), { name: 'InvalidMessageError' })
    assert.throws(() => r.push({ ...c[0], count: 0 }), { name: 'InvalidMessageError' })
    r.push(c[0])
    assert.throws(() => r.push({ ...c[1], data: new Uint8Array(20) }), { name: 'InvalidMessageError' })
    r.push(c[0])
    assert.throws(() => r.push({ ...c[1], totalBytes: 41 }), { name: 'InvalidMessageError' })
    assert.throws(() => chunkSnapshot(snapshot(10), 0), { name: 'InvalidMessageError' })
  })
})
