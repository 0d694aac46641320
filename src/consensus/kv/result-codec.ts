/**
 * KV results <-> bytes: for idempotency records in snapshots and for carrying a result back to the
 * peer that proposed the command. Layout `[version=1, tag, ...fields]`; decoding is size-limited
 * and throws only our typed decode errors.
 */
import { InvalidMessageError } from '../../errors.ts'
import { truncateUtf8 } from '../../util/utf8.ts'
import {
  decodeWith, encodeWith, encoding, readBool, readByte, readCount, readString, readUint, readVersion,
  writeBool, writeBytes, writeString, writeUint
} from '../wire.ts'
import type { Decoder, Encoder } from '../wire.ts'
import { readKey, readValue, writeKey } from './codec.ts'
import { MAX_ERROR_MESSAGE_BYTES, MAX_RANGE_RESULTS, MAX_RESULT_BYTES, MAX_TXN_OPS } from './constants.ts'
import { isKvErrorName } from './types.ts'
import type { KeyValue, KvResult, OpResult } from './types.ts'

export const KV_RESULT_VERSION = 1

const RESULT_TAGS: Record<KvResult['type'], number> = {
  error: 0, put: 1, delete: 2, get: 3, range: 4, cas: 5, txn: 6, 'lease-grant': 7, 'lease-keepalive': 8, 'lease-revoke': 9, 'expire-leases': 10, 'lease-promote': 11
}
const OP_RESULT_TAGS = { put: 1, delete: 2, get: 3, range: 4 } as const

export function writeKeyValue (e: Encoder, kv: KeyValue): void {
  writeKey(e, kv.key)
  writeBytes(e, kv.value)
  writeUint(e, kv.createRevision)
  writeUint(e, kv.modRevision)
  writeUint(e, kv.version)
  writeUint(e, kv.lease)
}

export function readKeyValue (d: Decoder): KeyValue {
  const key = readKey(d)
  const value = readValue(d)
  const createRevision = readUint(d, 'createRevision')
  const modRevision = readUint(d, 'modRevision')
  const version = readUint(d, 'version')
  const lease = readUint(d, 'lease')
  if (createRevision < 1 || modRevision < createRevision || version < 1) throw new InvalidMessageError(`key ${JSON.stringify(key)}: inconsistent revisions`)
  return { key, value, createRevision, modRevision, version, lease }
}

function writeOptionalKv (e: Encoder, kv: KeyValue | undefined): void {
  writeBool(e, kv !== undefined)
  if (kv !== undefined) writeKeyValue(e, kv)
}

function readOptionalKv (d: Decoder, field: 'kv' | 'prev'): { kv?: KeyValue } | { prev?: KeyValue } {
  if (!readBool(d, `has ${field}`)) return {}
  return field === 'kv' ? { kv: readKeyValue(d) } : { prev: readKeyValue(d) }
}

function writeKvs (e: Encoder, kvs: KeyValue[], more: boolean): void {
  writeUint(e, kvs.length)
  for (const kv of kvs) writeKeyValue(e, kv)
  writeBool(e, more)
}

function readKvs (d: Decoder): { kvs: KeyValue[], more: boolean } {
  const n = readCount(d, 'kvs', MAX_RANGE_RESULTS)
  const kvs: KeyValue[] = []
  for (let i = 0; i < n; i++) kvs.push(readKeyValue(d))
  return { kvs, more: readBool(d, 'more') }
}

function writeOpResult (e: Encoder, r: OpResult): void {
  encoding.writeUint8(e, OP_RESULT_TAGS[r.type])
  switch (r.type) {
    case 'put': writeOptionalKv(e, r.prev); break
    case 'delete': writeUint(e, r.deleted); break
    case 'get': writeOptionalKv(e, r.kv); break
    case 'range': writeKvs(e, r.kvs, r.more); break
  }
}

function readOpResult (d: Decoder): OpResult {
  const tag = readByte(d, 'op result')
  switch (tag) {
    case OP_RESULT_TAGS.put: return { type: 'put', ...readOptionalKv(d, 'prev') }
    case OP_RESULT_TAGS.delete: return { type: 'delete', deleted: readUint(d, 'deleted') }
    case OP_RESULT_TAGS.get: return { type: 'get', ...readOptionalKv(d, 'kv') }
    case OP_RESULT_TAGS.range: return { type: 'range', ...readKvs(d) }
    default: throw new InvalidMessageError(`unknown op result ${tag}`)
  }
}

export function writeResult (e: Encoder, r: KvResult): void {
  encoding.writeUint8(e, KV_RESULT_VERSION)
  encoding.writeUint8(e, RESULT_TAGS[r.type])
  switch (r.type) {
    case 'error': writeString(e, r.name); writeString(e, truncateUtf8(r.message, MAX_ERROR_MESSAGE_BYTES)); break
    case 'put': writeUint(e, r.revision); writeOptionalKv(e, r.prev); break
    case 'delete': writeUint(e, r.revision); writeUint(e, r.deleted); break
    case 'get': writeUint(e, r.revision); writeOptionalKv(e, r.kv); break
    case 'range': writeUint(e, r.revision); writeKvs(e, r.kvs, r.more); break
    case 'cas': writeUint(e, r.revision); writeBool(e, r.succeeded); writeOptionalKv(e, r.kv); break
    case 'txn':
      writeUint(e, r.revision); writeBool(e, r.succeeded)
      writeUint(e, r.responses.length)
      for (const op of r.responses) writeOpResult(e, op)
      break
    case 'lease-grant':
    case 'lease-keepalive':
      writeUint(e, r.lease); writeUint(e, r.ttlMs); writeUint(e, r.expiresAtMs); break
    case 'lease-revoke': writeUint(e, r.revision); writeUint(e, r.deleted); break
    case 'expire-leases':
      writeUint(e, r.revision); writeUint(e, r.expired.length)
      for (const id of r.expired) writeUint(e, id)
      break
    case 'lease-promote': writeUint(e, r.leases); break
  }
}

export function readResult (d: Decoder): KvResult {
  readVersion(d, 'kv result', KV_RESULT_VERSION)
  const tag = readByte(d, 'result type')
  switch (tag) {
    case RESULT_TAGS.error: {
      const name = readString(d, 'error name', 64)
      if (!isKvErrorName(name)) throw new InvalidMessageError(`unknown error name ${JSON.stringify(name)}`)
      return { type: 'error', name, message: readString(d, 'error message', MAX_ERROR_MESSAGE_BYTES) }
    }
    case RESULT_TAGS.put: return { type: 'put', revision: readUint(d, 'revision'), ...readOptionalKv(d, 'prev') }
    case RESULT_TAGS.delete: return { type: 'delete', revision: readUint(d, 'revision'), deleted: readUint(d, 'deleted') }
    case RESULT_TAGS.get: return { type: 'get', revision: readUint(d, 'revision'), ...readOptionalKv(d, 'kv') }
    case RESULT_TAGS.range: return { type: 'range', revision: readUint(d, 'revision'), ...readKvs(d) }
    case RESULT_TAGS.cas: return { type: 'cas', revision: readUint(d, 'revision'), succeeded: readBool(d, 'succeeded'), ...readOptionalKv(d, 'kv') }
    case RESULT_TAGS.txn: {
      const revision = readUint(d, 'revision'); const succeeded = readBool(d, 'succeeded')
      const n = readCount(d, 'responses', MAX_TXN_OPS)
      const responses: OpResult[] = []
      for (let i = 0; i < n; i++) responses.push(readOpResult(d))
      return { type: 'txn', revision, succeeded, responses }
    }
    case RESULT_TAGS['lease-grant']:
    case RESULT_TAGS['lease-keepalive']: {
      const type = tag === RESULT_TAGS['lease-grant'] ? 'lease-grant' : 'lease-keepalive'
      return { type, lease: readUint(d, 'lease'), ttlMs: readUint(d, 'ttlMs'), expiresAtMs: readUint(d, 'expiresAtMs') }
    }
    case RESULT_TAGS['lease-revoke']: return { type: 'lease-revoke', revision: readUint(d, 'revision'), deleted: readUint(d, 'deleted') }
    case RESULT_TAGS['expire-leases']: {
      const revision = readUint(d, 'revision')
      const n = readCount(d, 'expired', Number.MAX_SAFE_INTEGER)
      const expired: number[] = []
      for (let i = 0; i < n; i++) expired.push(readUint(d, 'lease'))
      return { type: 'expire-leases', revision, expired }
    }
    case RESULT_TAGS['lease-promote']: return { type: 'lease-promote', leases: readUint(d, 'leases') }
    default: throw new InvalidMessageError(`unknown result type ${tag}`)
  }
}

export function encodeResult (r: KvResult): Uint8Array {
  return encodeWith(e => { writeResult(e, r) })
}

export function decodeResult (bytes: Uint8Array): KvResult {
  return decodeWith('kv result', bytes, MAX_RESULT_BYTES, readResult)
}
