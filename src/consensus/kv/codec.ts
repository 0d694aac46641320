/**
 * KV commands <-> bytes (the data of a Raft entry). Layout: `[version=1, tag, ...fields]` in lib0
 * varints; optional numbers use 0 for "none" (lease ids are Raft indexes, never 0), optional
 * strings sit behind a flags byte. Decoding is size-limited and validates every field, so it only
 * ever throws InvalidMessageError, MessageTooLargeError or UnsupportedVersionError.
 */
import * as decoding from 'lib0/decoding'
import { InvalidMessageError, MessageTooLargeError } from '../../errors.ts'
import {
  decodeWith, encodeWith, encoding, readBool, readByte, readBytes, readCount, readString, readUint, readVersion,
  writeBool, writeBytes, writeString, writeUint
} from '../wire.ts'
import type { Decoder, Encoder } from '../wire.ts'
import { MAX_COMMAND_BYTES, MAX_EXPIRE_LEASES_PER_COMMAND, MAX_KEY_BYTES, MAX_REQUEST_ID_BYTES, MAX_TXN_OPS, MAX_VALUE_BYTES } from './constants.ts'
import type { Compare, CompareOp, Fence, KvCommand, KvCommandType, TxnOp, WriteMeta } from './types.ts'
import { validateCommand } from './validate.ts'

export const KV_COMMAND_VERSION = 1

const COMMAND_TAGS: Record<KvCommandType, number> = {
  put: 1, delete: 2, get: 3, range: 4, cas: 5, txn: 6, 'lease-grant': 7, 'lease-keepalive': 8, 'lease-revoke': 9, 'expire-leases': 10, 'lease-promote': 11
}
const OP_TAGS = { put: 1, delete: 2, get: 3, range: 4 } as const
const COMPARE_OPS: CompareOp[] = ['==', '!=', '<', '>']
const COMPARE_TARGETS = ['value', 'version', 'createRevision', 'modRevision', 'lease'] as const

const FLAG_REQUEST_ID = 1
const FLAG_FENCE = 2
const FLAG_FENCE_LEASE = 4

// ---- shared field codecs ----

export function writeKey (e: Encoder, key: string): void { writeString(e, key) }
export function readKey (d: Decoder, field = 'key', allowEmpty = false): string {
  const k = readString(d, field, MAX_KEY_BYTES)
  if (!allowEmpty && k.length === 0) throw new InvalidMessageError(`${field} is empty`)
  return k
}
export function readValue (d: Decoder, field = 'value'): Uint8Array { return readBytes(d, field, MAX_VALUE_BYTES) }

function writeMeta (e: Encoder, m: WriteMeta): void {
  const flags = (m.requestId !== undefined ? FLAG_REQUEST_ID : 0) | (m.fence !== undefined ? FLAG_FENCE : 0) |
    (m.fence?.lease !== undefined ? FLAG_FENCE_LEASE : 0)
  encoding.writeUint8(e, flags)
  if (m.requestId !== undefined) writeString(e, m.requestId)
  if (m.fence !== undefined) {
    writeKey(e, m.fence.key)
    writeUint(e, m.fence.token)
    if (m.fence.lease !== undefined) writeUint(e, m.fence.lease)
  }
}

function readMeta (d: Decoder): WriteMeta {
  const flags = readByte(d, 'flags')
  if ((flags & ~(FLAG_REQUEST_ID | FLAG_FENCE | FLAG_FENCE_LEASE)) !== 0 || ((flags & FLAG_FENCE_LEASE) !== 0 && (flags & FLAG_FENCE) === 0)) {
    throw new InvalidMessageError(`unknown flags ${flags}`)
  }
  const meta: WriteMeta = {}
  if ((flags & FLAG_REQUEST_ID) !== 0) {
    meta.requestId = readString(d, 'requestId', MAX_REQUEST_ID_BYTES)
    if (meta.requestId.length === 0) throw new InvalidMessageError('requestId is empty')
  }
  if ((flags & FLAG_FENCE) !== 0) {
    const fence: Fence = { key: readKey(d, 'fence key'), token: readUint(d, 'fence token') }
    if ((flags & FLAG_FENCE_LEASE) !== 0) fence.lease = readUint(d, 'fence lease')
    meta.fence = fence
  }
  return meta
}

function writeOptionalLease (e: Encoder, lease: number | undefined): void { writeUint(e, lease ?? 0) }
function readOptionalLease (d: Decoder): { lease?: number } {
  const lease = readUint(d, 'lease')
  return lease === 0 ? {} : { lease }
}
function writeOptionalLimit (e: Encoder, limit: number | undefined): void { writeUint(e, limit ?? 0) }
function readOptionalLimit (d: Decoder): { limit?: number } {
  const limit = readUint(d, 'limit')
  return limit === 0 ? {} : { limit }
}

function writeOp (e: Encoder, op: TxnOp): void {
  encoding.writeUint8(e, OP_TAGS[op.type])
  switch (op.type) {
    case 'put': writeKey(e, op.key); writeBytes(e, op.value); writeOptionalLease(e, op.lease); break
    case 'delete': writeKey(e, op.key); writeBool(e, op.prefix === true); break
    case 'get': writeKey(e, op.key); break
    case 'range': writeKey(e, op.prefix); writeOptionalLimit(e, op.limit); break
  }
}

function readOp (d: Decoder): TxnOp {
  const tag = readByte(d, 'op')
  switch (tag) {
    case OP_TAGS.put: return { type: 'put', key: readKey(d), value: readValue(d), ...readOptionalLease(d) }
    case OP_TAGS.delete: {
      const key = readKey(d, 'key', true)
      const prefix = readBool(d, 'prefix')
      return prefix ? { type: 'delete', key, prefix } : { type: 'delete', key: nonEmpty(key) }
    }
    case OP_TAGS.get: return { type: 'get', key: readKey(d) }
    case OP_TAGS.range: return { type: 'range', prefix: readKey(d, 'prefix', true), ...readOptionalLimit(d) }
    default: throw new InvalidMessageError(`unknown txn op ${tag}`)
  }
}

function nonEmpty (key: string): string {
  if (key.length === 0) throw new InvalidMessageError('key is empty')
  return key
}

function writeCompare (e: Encoder, c: Compare): void {
  writeKey(e, c.key)
  encoding.writeUint8(e, COMPARE_TARGETS.indexOf(c.target))
  encoding.writeUint8(e, COMPARE_OPS.indexOf(c.op))
  if (c.target === 'value') writeBytes(e, c.value)
  else writeUint(e, c.value)
}

function readCompare (d: Decoder): Compare {
  const key = readKey(d)
  const target = COMPARE_TARGETS[readByte(d, 'compare target')]
  const op = COMPARE_OPS[readByte(d, 'compare op')]
  if (target === undefined) throw new InvalidMessageError('unknown compare target')
  if (op === undefined) throw new InvalidMessageError('unknown compare op')
  if (target === 'value') return { key, target, op, value: readValue(d, 'compare value') }
  return { key, target, op, value: readUint(d, 'compare value') }
}

function writeOps (e: Encoder, ops: TxnOp[]): void {
  writeUint(e, ops.length)
  for (const op of ops) writeOp(e, op)
}

function readOps (d: Decoder, field: string): TxnOp[] {
  const n = readCount(d, field, MAX_TXN_OPS)
  const ops: TxnOp[] = []
  for (let i = 0; i < n; i++) ops.push(readOp(d))
  return ops
}

// ---- commands ----

/** the bytes of a command; throws InvalidArgumentError / MessageTooLargeError for a bad one */
export function encodeCommand (cmd: KvCommand): Uint8Array {
  validateCommand(cmd)
  const bytes = encodeWith(e => {
    encoding.writeUint8(e, KV_COMMAND_VERSION)
    encoding.writeUint8(e, COMMAND_TAGS[cmd.type])
    switch (cmd.type) {
      case 'put': writeKey(e, cmd.key); writeBytes(e, cmd.value); writeOptionalLease(e, cmd.lease); writeMeta(e, cmd); break
      case 'delete': writeKey(e, cmd.key); writeBool(e, cmd.prefix === true); writeMeta(e, cmd); break
      case 'get': writeKey(e, cmd.key); break
      case 'range': writeKey(e, cmd.prefix); writeOptionalLimit(e, cmd.limit); break
      case 'cas':
        writeKey(e, cmd.key); writeBytes(e, cmd.value); writeUint(e, cmd.expectModRevision); writeOptionalLease(e, cmd.lease); writeMeta(e, cmd)
        break
      case 'txn':
        writeUint(e, cmd.compare.length)
        for (const c of cmd.compare) writeCompare(e, c)
        writeOps(e, cmd.success); writeOps(e, cmd.failure); writeMeta(e, cmd)
        break
      case 'lease-grant':
        writeUint(e, cmd.ttlMs); writeUint(e, cmd.nowMs)
        writeBool(e, cmd.fenceKey !== undefined)
        if (cmd.fenceKey !== undefined) writeKey(e, cmd.fenceKey)
        writeMeta(e, { requestId: cmd.requestId })
        break
      case 'lease-keepalive': writeUint(e, cmd.lease); writeUint(e, cmd.nowMs); writeMeta(e, { requestId: cmd.requestId }); break
      case 'lease-revoke': writeUint(e, cmd.lease); writeMeta(e, cmd); break
      case 'expire-leases':
        writeUint(e, cmd.nowMs)
        // the named leases follow nowMs; an entry of the older form ends after it
        if (cmd.leases !== undefined) {
          writeUint(e, cmd.leases.length)
          for (const id of cmd.leases) writeUint(e, id)
        }
        break
      case 'lease-promote':
        writeUint(e, cmd.nowMs); break
    }
  })
  if (bytes.byteLength > MAX_COMMAND_BYTES) throw new MessageTooLargeError(`command of ${bytes.byteLength} bytes exceeds ${MAX_COMMAND_BYTES}`)
  return bytes
}

function noFence (meta: WriteMeta, what: string): { requestId?: string } {
  if (meta.fence !== undefined) throw new InvalidMessageError(`${what} takes no fence`)
  return meta.requestId !== undefined ? { requestId: meta.requestId } : {}
}

const TYPE_OF_TAG = new Map(Object.entries(COMMAND_TAGS).map(([type, tag]) => [tag, type as KvCommandType]))

/** the type of an encoded command, from its first two bytes (undefined if they name none) */
export function commandTypeOf (bytes: Uint8Array): KvCommandType | undefined {
  return bytes.length >= 2 && bytes[0] === KV_COMMAND_VERSION ? TYPE_OF_TAG.get(bytes[1]) : undefined
}

/** a command from bytes, validated; throws only our typed decode errors */
export function decodeCommand (bytes: Uint8Array): KvCommand {
  return decodeWith('kv command', bytes, MAX_COMMAND_BYTES, d => {
    readVersion(d, 'kv command', KV_COMMAND_VERSION)
    const tag = readByte(d, 'command type')
    switch (tag) {
      case COMMAND_TAGS.put: return { type: 'put', key: readKey(d), value: readValue(d), ...readOptionalLease(d), ...readMeta(d) }
      case COMMAND_TAGS.delete: {
        const key = readKey(d, 'key', true)
        const prefix = readBool(d, 'prefix')
        return prefix ? { type: 'delete', key, prefix, ...readMeta(d) } : { type: 'delete', key: nonEmpty(key), ...readMeta(d) }
      }
      case COMMAND_TAGS.get: return { type: 'get', key: readKey(d) }
      case COMMAND_TAGS.range: return { type: 'range', prefix: readKey(d, 'prefix', true), ...readOptionalLimit(d) }
      case COMMAND_TAGS.cas: {
        const key = readKey(d); const value = readValue(d); const expectModRevision = readUint(d, 'expectModRevision')
        return { type: 'cas', key, value, expectModRevision, ...readOptionalLease(d), ...readMeta(d) }
      }
      case COMMAND_TAGS.txn: {
        const n = readCount(d, 'compare', MAX_TXN_OPS)
        const compare: Compare[] = []
        for (let i = 0; i < n; i++) compare.push(readCompare(d))
        const success = readOps(d, 'success')
        const failure = readOps(d, 'failure')
        return { type: 'txn', compare, success, failure, ...readMeta(d) }
      }
      case COMMAND_TAGS['lease-grant']: {
        const ttlMs = readUint(d, 'ttlMs'); const nowMs = readUint(d, 'nowMs')
        const fenceKey = readBool(d, 'has fenceKey') ? readKey(d, 'fenceKey') : undefined
        const meta = noFence(readMeta(d), 'lease-grant')
        return { type: 'lease-grant', ttlMs, nowMs, ...(fenceKey !== undefined ? { fenceKey } : {}), ...meta }
      }
      case COMMAND_TAGS['lease-keepalive']: {
        const lease = readUint(d, 'lease'); const nowMs = readUint(d, 'nowMs')
        return { type: 'lease-keepalive', lease, nowMs, ...noFence(readMeta(d), 'lease-keepalive') }
      }
      case COMMAND_TAGS['lease-revoke']: return { type: 'lease-revoke', lease: readUint(d, 'lease'), ...readMeta(d) }
      case COMMAND_TAGS['expire-leases']: {
        const nowMs = readUint(d, 'nowMs')
        if (!decoding.hasContent(d)) return { type: 'expire-leases', nowMs }
        const n = readCount(d, 'expired leases', MAX_EXPIRE_LEASES_PER_COMMAND)
        const leases: number[] = []
        for (let i = 0; i < n; i++) leases.push(readUint(d, 'expired lease'))
        return { type: 'expire-leases', nowMs, leases }
      }
      case COMMAND_TAGS['lease-promote']: return { type: 'lease-promote', nowMs: readUint(d, 'nowMs') }
      default: throw new InvalidMessageError(`unknown command type ${tag}`)
    }
  })
}
