/**
 * Message ids: 16 random bytes from an injected source, carried as 32 lowercase hex chars so
 * they can key maps and store entries directly.
 */
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import { MESSAGE_ID_BYTES } from './constants.ts'
import type { Rng } from '../util/prng.ts'

export type MessageId = string & { readonly __brand: 'MessageId' }

/** returns `length` random bytes */
export type RandomBytes = (length: number) => Uint8Array

const ID_RE = /^[0-9a-f]{32}$/
const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'))

const POOL_BYTES = 4096
let pool = new Uint8Array(0)
let poolOffset = 0

/**
 * the platform CSPRNG (Web Crypto, in Node and browsers), drawn in 4 kB blocks: one
 * getRandomValues call per 256 ids instead of one per id
 */
export const cryptoRandomBytes: RandomBytes = (length) => {
  if (length > POOL_BYTES) return globalThis.crypto.getRandomValues(new Uint8Array(length))
  if (poolOffset + length > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES))
    poolOffset = 0
  }
  const out = pool.slice(poolOffset, poolOffset + length)
  poolOffset += length
  return out
}

/** bytes from a seeded Rng: replayable, for tests and simulation only */
export function rngRandomBytes (rng: Rng): RandomBytes {
  return (length) => {
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++) out[i] = rng.int(256)
    return out
  }
}

export function createMessageId (randomBytes: RandomBytes = cryptoRandomBytes): MessageId {
  const bytes = randomBytes(MESSAGE_ID_BYTES)
  if (!(bytes instanceof Uint8Array) || bytes.length !== MESSAGE_ID_BYTES) {
    throw new InvalidArgumentError(`random source returned ${String((bytes as Uint8Array | undefined)?.length)} bytes, wanted ${MESSAGE_ID_BYTES}`)
  }
  return messageIdFromBytes(bytes)
}

export function isValidMessageId (id: unknown): id is MessageId {
  return typeof id === 'string' && ID_RE.test(id)
}

/** parses an id from text (e.g. an HTTP path); InvalidMessageError when malformed */
export function parseMessageId (text: string): MessageId {
  if (!isValidMessageId(text)) throw new InvalidMessageError('message id must be 32 lowercase hex chars')
  return text
}

export function messageIdToBytes (id: MessageId): Uint8Array {
  const out = new Uint8Array(MESSAGE_ID_BYTES)
  for (let i = 0; i < MESSAGE_ID_BYTES; i++) out[i] = parseInt(id.slice(i * 2, i * 2 + 2), 16)
  return out
}

export function messageIdFromBytes (bytes: Uint8Array): MessageId {
  if (bytes.length !== MESSAGE_ID_BYTES) throw new InvalidMessageError(`message id must be ${MESSAGE_ID_BYTES} bytes`)
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX_BYTES[bytes[i]]
  return s as MessageId
}
