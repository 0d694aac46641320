/**
 * Lease questions the Raft leader answers from memory (lease-renewals.ts), without a Raft entry:
 * a renewal (keepalive) or a time-to-live. They travel as the one context entry of a MsgReadIndex
 * (asker -> leader) and of a MsgReadIndexResp (leader -> asker), so they take the path, the
 * credential gate and the transport that linearizable reads take (driver-leases.ts):
 *
 *   ask:    [0xa7, 0x1e, version, kind, nonce (4 bytes), seq, lease]
 *   answer: [0xa7, 0x1e, version, kind | 0x80, nonce (4 bytes), seq, lease, outcome
 *            (0 ok, 1 not found, 2 ask again), and when ok: ttlMs, expiresAtMs, remainingMs]
 *
 * kind 1 is a renewal, 2 a time-to-live; numbers are lib0 varuints. A ReadIndex context of the
 * read path (pending.ts) is exactly 8 bytes, a lease context at least 10, so neither is taken for
 * the other. `nonce` is the asker's (per driver) and `seq` its question's number: an answer is
 * matched to the question by both. Decoding is bounded and throws only our typed decode errors.
 */
import * as decoding from 'lib0/decoding'
import { InvalidMessageError } from '../errors.ts'
import { decodeWith, encodeWith, encoding, readByte, readUint, readVersion, writeUint } from './wire.ts'
import { MessageType } from './raft/types.ts'
import type { Message } from './raft/types.ts'

export const LEASE_WIRE_VERSION = 1
const MAGIC0 = 0xa7
const MAGIC1 = 0x1e
const ANSWER = 0x80
/** shortest lease context (an ask of seq 0 and lease 0 would be 10 bytes) */
const MIN_LEASE_CONTEXT_BYTES = 10
/** longest lease context: an answer with every number at its largest */
export const MAX_LEASE_CONTEXT_BYTES = 64

export type LeaseAskKind = 'keepalive' | 'ttl'
const KIND_CODES: Record<LeaseAskKind, number> = { keepalive: 1, ttl: 2 }

export interface LeaseAsk {
  kind: LeaseAskKind
  nonce: number
  seq: number
  lease: number
}

/** what the leader says: the lease's times (expiresAtMs in its lease time), not found, or ask again (it does not lead) */
export type LeaseOutcome =
  | { status: 'ok', ttlMs: number, expiresAtMs: number, remainingMs: number }
  | { status: 'not-found' }
  | { status: 'retry' }

export interface LeaseAnswer extends LeaseAsk {
  outcome: LeaseOutcome
}

const OUTCOME_CODES = { ok: 0, 'not-found': 1, retry: 2 } as const

/** true when a ReadIndex context is a lease ask or answer (not a read's) */
export function isLeaseContext (ctx: Uint8Array | undefined): boolean {
  return ctx !== undefined && ctx.byteLength >= MIN_LEASE_CONTEXT_BYTES && ctx[0] === MAGIC0 && ctx[1] === MAGIC1
}

/** the lease context a ReadIndex (or its answer) carries, if any */
export function leaseContextOf (m: Message): Uint8Array | undefined {
  if ((m.type !== MessageType.ReadIndex && m.type !== MessageType.ReadIndexResp) || m.entries.length !== 1) return undefined
  const data = m.entries[0].data
  return data instanceof Uint8Array && isLeaseContext(data) ? data : undefined
}

/** the kind of a lease ask a ReadIndex message carries (undefined when it carries none, or not readably) */
export function leaseAskKindOf (m: Message): LeaseAskKind | undefined {
  if (m.type !== MessageType.ReadIndex) return undefined
  const ctx = leaseContextOf(m)
  if (ctx === undefined) return undefined
  return ctx[3] === KIND_CODES.keepalive ? 'keepalive' : ctx[3] === KIND_CODES.ttl ? 'ttl' : undefined
}

function writeHead (e: encoding.Encoder, kindCode: number, a: LeaseAsk): void {
  encoding.writeUint8(e, MAGIC0)
  encoding.writeUint8(e, MAGIC1)
  encoding.writeUint8(e, LEASE_WIRE_VERSION)
  encoding.writeUint8(e, kindCode)
  encoding.writeUint32(e, a.nonce >>> 0)
  writeUint(e, a.seq)
  writeUint(e, a.lease)
}

export function encodeLeaseAsk (a: LeaseAsk): Uint8Array {
  return encodeWith(e => { writeHead(e, KIND_CODES[a.kind], a) })
}

export function encodeLeaseAnswer (a: LeaseAnswer): Uint8Array {
  return encodeWith(e => {
    writeHead(e, KIND_CODES[a.kind] | ANSWER, a)
    encoding.writeUint8(e, OUTCOME_CODES[a.outcome.status])
    if (a.outcome.status === 'ok') {
      writeUint(e, a.outcome.ttlMs)
      writeUint(e, a.outcome.expiresAtMs)
      writeUint(e, a.outcome.remainingMs)
    }
  })
}

/** a lease ask or answer from its bytes; throws InvalidMessageError / MessageTooLargeError / UnsupportedVersionError */
export function decodeLeaseContext (bytes: Uint8Array): { ask: LeaseAsk } | { answer: LeaseAnswer } {
  return decodeWith('lease context', bytes, MAX_LEASE_CONTEXT_BYTES, d => {
    if (readByte(d, 'magic') !== MAGIC0 || readByte(d, 'magic') !== MAGIC1) throw new InvalidMessageError('not a lease context')
    readVersion(d, 'lease context', LEASE_WIRE_VERSION)
    const code = readByte(d, 'lease ask kind')
    const kindCode = code & ~ANSWER
    const kind: LeaseAskKind | undefined = kindCode === KIND_CODES.keepalive ? 'keepalive' : kindCode === KIND_CODES.ttl ? 'ttl' : undefined
    if (kind === undefined) throw new InvalidMessageError(`lease ask kind ${code} is unknown`)
    if (d.arr.length - d.pos < 4) throw new InvalidMessageError('lease context: truncated nonce')
    const nonce = decoding.readUint32(d)
    const ask: LeaseAsk = { kind, nonce, seq: readUint(d, 'seq'), lease: readUint(d, 'lease') }
    if ((code & ANSWER) === 0) return { ask }
    const status = readByte(d, 'lease outcome')
    let outcome: LeaseOutcome
    if (status === OUTCOME_CODES.ok) {
      outcome = { status: 'ok', ttlMs: readUint(d, 'ttlMs'), expiresAtMs: readUint(d, 'expiresAtMs'), remainingMs: readUint(d, 'remainingMs') }
    } else if (status === OUTCOME_CODES['not-found']) {
      outcome = { status: 'not-found' }
    } else if (status === OUTCOME_CODES.retry) {
      outcome = { status: 'retry' }
    } else {
      throw new InvalidMessageError(`lease outcome ${status} is unknown`)
    }
    return { answer: { ...ask, outcome } }
  })
}
