/**
 * On-disk records of the durable Raft log, each `[version, ...fields]` in lib0 varints:
 *   entry      [1, term, type, data]                 key `e/<16-digit index>`
 *   hard state [1, term, vote, commit]               key `hs`
 *   snapshot   [1, index, term, nVoters, ...voters, nLearners, ...learners, data]    key `snap`
 *   log start  [1, index, term]  (the dummy entry before the first kept one)    key `start`
 */
import {
  MAX_LOG_ENTRY_RECORD_BYTES, MAX_SNAPSHOT_RECORD_BYTES, MAX_STORED_CONF_MEMBERS, MAX_STORED_NODE_ID_BYTES,
  LOG_INDEX_KEY_DIGITS
} from './constants.ts'
import { EntryType } from './raft/types.ts'
import type { ConfState, Entry, HardState, Snapshot } from './raft/types.ts'
import {
  decodeWith, encodeWith, readBytes, readCount, readString, readUint, readVersion,
  writeBytes, writeString, writeUint, encoding
} from './wire.ts'
import type { Decoder, Encoder } from './wire.ts'

const RECORD_VERSION = 1
const SMALL_RECORD_BYTES = 64 * 1024 + MAX_STORED_CONF_MEMBERS * (MAX_STORED_NODE_ID_BYTES + 4)

export const ENTRY_KEY_PREFIX = 'e/'
export const HARD_STATE_KEY = 'hs'
export const SNAPSHOT_KEY = 'snap'
export const LOG_START_KEY = 'start'

export function entryKey (index: number): string {
  return ENTRY_KEY_PREFIX + String(index).padStart(LOG_INDEX_KEY_DIGITS, '0')
}

/** the index in an entry key, or NaN when the key is not one */
export function indexOfEntryKey (key: string): number {
  const digits = key.slice(ENTRY_KEY_PREFIX.length)
  if (!key.startsWith(ENTRY_KEY_PREFIX) || digits.length !== LOG_INDEX_KEY_DIGITS || !/^\d+$/.test(digits)) return NaN
  return Number(digits)
}

export function encodeEntry (e: Entry): Uint8Array {
  return encodeWith(enc => {
    encoding.writeUint8(enc, RECORD_VERSION)
    writeUint(enc, e.term)
    writeUint(enc, e.type)
    writeBytes(enc, e.data)
  })
}

export function decodeEntry (index: number, bytes: Uint8Array): Entry {
  return decodeWith('log entry', bytes, MAX_LOG_ENTRY_RECORD_BYTES, d => {
    readVersion(d, 'log entry', RECORD_VERSION)
    const term = readUint(d, 'entry term')
    const type = readUint(d, 'entry type', 1) as EntryType
    const data = readBytes(d, 'entry data', MAX_LOG_ENTRY_RECORD_BYTES)
    return { term, index, type: type === 1 ? EntryType.ConfChange : EntryType.Normal, data }
  })
}

export function encodeHardState (hs: HardState): Uint8Array {
  return encodeWith(enc => {
    encoding.writeUint8(enc, RECORD_VERSION)
    writeUint(enc, hs.term)
    writeString(enc, hs.vote)
    writeUint(enc, hs.commit)
  })
}

export function decodeHardState (bytes: Uint8Array): HardState {
  return decodeWith('hard state', bytes, SMALL_RECORD_BYTES, d => {
    readVersion(d, 'hard state', RECORD_VERSION)
    const term = readUint(d, 'term')
    const vote = readString(d, 'vote', MAX_STORED_NODE_ID_BYTES)
    const commit = readUint(d, 'commit')
    return { term, vote, commit }
  })
}

function writeConfState (enc: Encoder, cs: ConfState): void {
  writeUint(enc, cs.voters.length)
  for (const v of cs.voters) writeString(enc, v)
  writeUint(enc, cs.learners.length)
  for (const l of cs.learners) writeString(enc, l)
}

function readConfState (d: Decoder): ConfState {
  const voters: string[] = []
  const learners: string[] = []
  const nv = readCount(d, 'voters', MAX_STORED_CONF_MEMBERS)
  for (let i = 0; i < nv; i++) voters.push(readString(d, 'voter', MAX_STORED_NODE_ID_BYTES))
  const nl = readCount(d, 'learners', MAX_STORED_CONF_MEMBERS)
  for (let i = 0; i < nl; i++) learners.push(readString(d, 'learner', MAX_STORED_NODE_ID_BYTES))
  return { voters, learners }
}

export function encodeSnapshot (s: Snapshot): Uint8Array {
  return encodeWith(enc => {
    encoding.writeUint8(enc, RECORD_VERSION)
    writeUint(enc, s.metadata.index)
    writeUint(enc, s.metadata.term)
    writeConfState(enc, s.metadata.confState)
    writeBytes(enc, s.data)
  })
}

export function decodeSnapshot (bytes: Uint8Array): Snapshot {
  return decodeWith('snapshot', bytes, MAX_SNAPSHOT_RECORD_BYTES, d => {
    readVersion(d, 'snapshot', RECORD_VERSION)
    const index = readUint(d, 'snapshot index')
    const term = readUint(d, 'snapshot term')
    const confState = readConfState(d)
    const data = readBytes(d, 'snapshot data', MAX_SNAPSHOT_RECORD_BYTES)
    return { metadata: { index, term, confState }, data }
  })
}

export interface LogStart { index: number, term: number }

export function encodeLogStart (s: LogStart): Uint8Array {
  return encodeWith(enc => {
    encoding.writeUint8(enc, RECORD_VERSION)
    writeUint(enc, s.index)
    writeUint(enc, s.term)
  })
}

export function decodeLogStart (bytes: Uint8Array): LogStart {
  return decodeWith('log start', bytes, SMALL_RECORD_BYTES, d => {
    readVersion(d, 'log start', RECORD_VERSION)
    const index = readUint(d, 'log start index')
    const term = readUint(d, 'log start term')
    return { index, term }
  })
}

