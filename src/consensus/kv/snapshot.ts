/**
 * The KV state <-> bytes, for Raft snapshots. Layout (lib0 varints):
 *   [version=1, appliedIndex, revision,
 *    nKeys, (key, value, createRevision, modRevision, version, lease)*   in key order
 *    nLeases, (id, ttlMs, expiresAtMs)*                                    in id order
 *    nFences, (key, token)*                                                in key order
 *    nRequests, (requestId, index, result)*]                               in index order
 * Canonical: equal states encode to equal bytes. Decoding checks sizes, order and cross-references
 * and throws only our typed decode errors.
 */
import { InvalidMessageError } from '../../errors.ts'
import { decodeWith, encodeWith, encoding, readCount, readString, readUint, readVersion, writeString, writeUint } from '../wire.ts'
import { readKey, writeKey } from './codec.ts'
import { MAX_FENCES, MAX_IDEMPOTENCY_RECORDS, MAX_KV_SNAPSHOT_BYTES, MAX_LEASE_TTL_MS, MAX_LEASES, MAX_REQUEST_ID_BYTES } from './constants.ts'
import { readKeyValue, readResult, writeKeyValue, writeResult } from './result-codec.ts'
import { emptyKvState } from './state.ts'
import type { KvState } from './state.ts'

export const KV_SNAPSHOT_VERSION = 1

export function encodeKvState (s: KvState): Uint8Array {
  return encodeWith(e => {
    encoding.writeUint8(e, KV_SNAPSHOT_VERSION)
    writeUint(e, s.appliedIndex)
    writeUint(e, s.revision)
    const kvs = s.keys.all()
    writeUint(e, kvs.length)
    for (const kv of kvs) writeKeyValue(e, kv)
    const leases = [...s.leases.values()].sort((a, b) => a.id - b.id)
    writeUint(e, leases.length)
    for (const l of leases) { writeUint(e, l.id); writeUint(e, l.ttlMs); writeUint(e, l.expiresAtMs) }
    const fences = [...s.fences.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    writeUint(e, fences.length)
    for (const [k, token] of fences) { writeKey(e, k); writeUint(e, token) }
    writeUint(e, s.requests.size)
    for (const [id, rec] of s.requests) { writeString(e, id); writeUint(e, rec.index); writeResult(e, rec.result) }
  })
}

export function decodeKvState (bytes: Uint8Array): KvState {
  return decodeWith('kv snapshot', bytes, MAX_KV_SNAPSHOT_BYTES, d => {
    readVersion(d, 'kv snapshot', KV_SNAPSHOT_VERSION)
    const s = emptyKvState()
    s.appliedIndex = readUint(d, 'appliedIndex')
    s.revision = readUint(d, 'revision')
    if (s.revision < 1) throw new InvalidMessageError('revision must be >= 1')
    const nKeys = readCount(d, 'keys', Number.MAX_SAFE_INTEGER)
    const kvs = []
    let last: string | undefined
    for (let i = 0; i < nKeys; i++) {
      const kv = readKeyValue(d)
      if (last !== undefined && !(last < kv.key)) throw new InvalidMessageError('snapshot keys out of order')
      if (kv.modRevision > s.revision) throw new InvalidMessageError(`key ${JSON.stringify(kv.key)} is newer than the store`)
      last = kv.key
      kvs.push(kv)
    }
    const nLeases = readCount(d, 'leases', MAX_LEASES)
    let lastId = 0
    for (let i = 0; i < nLeases; i++) {
      const id = readUint(d, 'lease id')
      const ttlMs = readUint(d, 'lease ttlMs', MAX_LEASE_TTL_MS)
      const expiresAtMs = readUint(d, 'lease expiresAtMs')
      if (id <= lastId || id > s.appliedIndex) throw new InvalidMessageError('snapshot lease ids out of order or beyond the applied index')
      lastId = id
      s.leases.set(id, { id, ttlMs, expiresAtMs, keys: new Set() })
    }
    for (const kv of kvs) {
      if (kv.lease !== 0) {
        const lease = s.leases.get(kv.lease)
        if (lease === undefined) throw new InvalidMessageError(`key ${JSON.stringify(kv.key)} is attached to unknown lease ${kv.lease}`)
        lease.keys.add(kv.key)
      }
      s.keys.set(kv)
    }
    const nFences = readCount(d, 'fences', MAX_FENCES)
    let lastFence: string | undefined
    for (let i = 0; i < nFences; i++) {
      const key = readKey(d, 'fence key')
      const token = readUint(d, 'fence token')
      if (lastFence !== undefined && !(lastFence < key)) throw new InvalidMessageError('snapshot fences out of order')
      lastFence = key
      s.fences.set(key, token)
    }
    const nRequests = readCount(d, 'requests', MAX_IDEMPOTENCY_RECORDS)
    let lastIndex = 0
    for (let i = 0; i < nRequests; i++) {
      const id = readString(d, 'requestId', MAX_REQUEST_ID_BYTES)
      const index = readUint(d, 'request index')
      if (index <= lastIndex || index > s.appliedIndex || s.requests.has(id)) throw new InvalidMessageError('snapshot idempotency records out of order')
      lastIndex = index
      s.requests.set(id, { index, result: readResult(d) })
    }
    return s
  })
}
