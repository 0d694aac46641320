/**
 * Membership messages on the nodes topic: versioned, size-limited, signed by their author.
 *
 *   [major, minor, type, body (JSON bytes), signature over (major, minor, type, body)]
 *
 * type 1 record   body = NodeRecord              author = record.peerId
 * type 2 leave    body = { peerId, incarnation }  author = peerId (a clean stop)
 * type 3 failed   body = { subject, incarnation, seq } author = the reporter (an obituary; seq =
 *                  the subject's last record or heartbeat the reporter saw)
 * type 4 heartbeat body = Heartbeat { peerId, incarnation, seq, recordSeq, ts, load }
 *                  author = peerId (sent between full records; ~300 bytes where a record is 1-3 kB)
 * type 5 wanted    body = { subjects: [peerId...] } author = the asker: "publish your full record",
 *                  sent by a peer that heard a heartbeat naming a record it does not hold
 *
 * Format 2 (heartbeats and wants) replaced format 1, where every heartbeat was a full record: a
 * 1.x peer would hear a 2.x peer's record only every RECORD_REFRESH_INTERVAL_MS and call it failed,
 * so the major version changed and the two refuse each other with UnsupportedVersionError.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError, UnauthorizedError, UnsupportedVersionError } from '../errors.ts'
import {
  MAX_ADDRS_PER_RECORD, MAX_LINKS_PER_RECORD, MAX_RECORD_BYTES, MAX_STRING_CHARS, MAX_TAGS, MAX_WANTED_SUBJECTS,
  RECORD_VERSION_MAJOR, RECORD_VERSION_MINOR
} from './constants.ts'
import type { Capabilities, Heartbeat, Link, LinkTransport, Load, NodeRecord, NodeRole, RaftRole } from './types.ts'

export const enum MembershipMessageType {
  Record = 1,
  Leave = 2,
  Failed = 3,
  Heartbeat = 4,
  Wanted = 5
}

export type MembershipMessage =
  | { type: MembershipMessageType.Record, author: string, record: NodeRecord }
  | { type: MembershipMessageType.Leave, author: string, peerId: string, incarnation: number }
  | { type: MembershipMessageType.Failed, author: string, subject: string, incarnation: number, seq: number }
  | { type: MembershipMessageType.Heartbeat, author: string, heartbeat: Heartbeat }
  | { type: MembershipMessageType.Wanted, author: string, subjects: string[] }

/** what a peer encodes (the author is its key's) */
export type OutgoingMembershipMessage =
  | { type: MembershipMessageType.Record, record: NodeRecord }
  | { type: MembershipMessageType.Leave, peerId: string, incarnation: number }
  | { type: MembershipMessageType.Failed, subject: string, incarnation: number, seq: number }
  | { type: MembershipMessageType.Heartbeat, heartbeat: Heartbeat }
  | { type: MembershipMessageType.Wanted, subjects: string[] }

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })

function signedPart (type: MembershipMessageType, body: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, RECORD_VERSION_MAJOR)
  encoding.writeVarUint(enc, RECORD_VERSION_MINOR)
  encoding.writeVarUint(enc, type)
  encoding.writeVarUint8Array(enc, body)
  return encoding.toUint8Array(enc)
}

function bodyOf (msg: OutgoingMembershipMessage): unknown {
  switch (msg.type) {
    case MembershipMessageType.Record: return msg.record
    case MembershipMessageType.Leave: return { peerId: msg.peerId, incarnation: msg.incarnation }
    case MembershipMessageType.Failed: return { subject: msg.subject, incarnation: msg.incarnation, seq: msg.seq }
    case MembershipMessageType.Heartbeat: return msg.heartbeat
    case MembershipMessageType.Wanted:
      if (msg.subjects.length === 0 || msg.subjects.length > MAX_WANTED_SUBJECTS) throw new InvalidArgumentError(`a record request names 1 to ${MAX_WANTED_SUBJECTS} peers, not ${msg.subjects.length}`)
      return { subjects: msg.subjects }
  }
}

export async function encodeMembershipMessage (msg: OutgoingMembershipMessage, privateKey: PrivateKey): Promise<Uint8Array> {
  const body = bodyOf(msg)
  const part = signedPart(msg.type, textEncoder.encode(JSON.stringify(body)))
  const signature = await privateKey.sign(part)
  const enc = encoding.createEncoder()
  encoding.writeUint8Array(enc, part)
  encoding.writeVarUint8Array(enc, signature)
  const out = encoding.toUint8Array(enc)
  if (out.byteLength > MAX_RECORD_BYTES) throw new MessageTooLargeError(`membership message of ${out.byteLength} bytes exceeds ${MAX_RECORD_BYTES}`)
  return out
}

/**
 * Decodes, validates and verifies a membership message. `from` is the gossipsub author; the message
 * must be about it, and its embedded signature must be by the same key, so a record cannot be forged
 * under another identity. `verified: true` skips that signature, for a caller whose transport has
 * already proved that `from` signed these very bytes (gossipsub's StrictSign does).
 */
export async function decodeMembershipMessage (bytes: Uint8Array, from: string, mesh: string, options: { verified?: boolean } = {}): Promise<MembershipMessage> {
  if (bytes.byteLength > MAX_RECORD_BYTES) throw new MessageTooLargeError(`membership message of ${bytes.byteLength} bytes exceeds ${MAX_RECORD_BYTES}`)
  let major: number, type: number, body: Uint8Array, signature: Uint8Array, partEnd: number
  try {
    const dec = decoding.createDecoder(bytes)
    major = decoding.readVarUint(dec)
    if (major !== RECORD_VERSION_MAJOR) throw new UnsupportedVersionError(`membership format ${major}.x is not supported (this peer speaks ${RECORD_VERSION_MAJOR}.x)`)
    decoding.readVarUint(dec) // minor: newer minors only add fields, which we ignore
    type = decoding.readVarUint(dec)
    body = decoding.readVarUint8Array(dec)
    partEnd = dec.pos
    signature = decoding.readVarUint8Array(dec)
  } catch (err) {
    if (err instanceof UnsupportedVersionError) throw err
    throw new InvalidMessageError('truncated or malformed membership message', { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(textDecoder.decode(body))
  } catch (err) {
    throw new InvalidMessageError('membership message body is not JSON', { cause: err })
  }
  if (!isObject(json)) throw new InvalidMessageError('membership message body is not an object')

  let author: string
  let msg: MembershipMessage
  switch (type) {
    case MembershipMessageType.Record: {
      const record = validateRecord(json)
      if (record.mesh !== mesh) throw new InvalidMessageError(`record for mesh "${record.mesh}", not "${mesh}"`)
      author = record.peerId
      msg = { type, author, record }
      break
    }
    case MembershipMessageType.Leave:
      author = str(json.peerId, 'peerId')
      msg = { type, author, peerId: author, incarnation: num(json.incarnation, 'incarnation') }
      break
    case MembershipMessageType.Failed:
      author = from
      msg = { type, author, subject: str(json.subject, 'subject'), incarnation: num(json.incarnation, 'incarnation'), seq: num(json.seq, 'seq') }
      break
    case MembershipMessageType.Heartbeat: {
      const heartbeat = validateHeartbeat(json)
      author = heartbeat.peerId
      msg = { type, author, heartbeat }
      break
    }
    case MembershipMessageType.Wanted:
      author = from
      if (!Array.isArray(json.subjects) || json.subjects.length === 0) throw new InvalidMessageError('record request field subjects must be a non-empty list')
      msg = { type, author, subjects: strList(json.subjects, 'subjects', MAX_WANTED_SUBJECTS) }
      break
    default:
      throw new InvalidMessageError(`unknown membership message type ${type}`)
  }
  if (author !== from) throw new UnauthorizedError(`message about ${author} was published by ${from}`)
  if (options.verified !== true) await verifySignature(author, bytes.subarray(0, partEnd), signature)
  return msg
}

async function verifySignature (author: string, part: Uint8Array, signature: Uint8Array): Promise<void> {
  let ok = false
  try {
    const key = peerIdFromString(author).publicKey
    if (key == null) throw new UnauthorizedError(`peer id ${author} does not embed a public key`)
    ok = await key.verify(part, signature)
  } catch (err) {
    if (err instanceof UnauthorizedError) throw err
    throw new InvalidMessageError(`bad peer id or signature from ${author}`, { cause: err })
  }
  if (!ok) throw new UnauthorizedError(`signature by ${author} does not verify`)
}

function isObject (x: unknown): x is Record<string, any> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function str (x: unknown, field: string, max = MAX_STRING_CHARS): string {
  if (typeof x !== 'string' || x.length === 0 || x.length > max) throw new InvalidMessageError(`record field ${field} must be a non-empty string of at most ${max} chars`)
  return x
}

function num (x: unknown, field: string, min = 0): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min) throw new InvalidMessageError(`record field ${field} must be a number >= ${min}`)
  return x
}

function strList (x: unknown, field: string, max: number): string[] {
  if (!Array.isArray(x) || x.length > max) throw new InvalidMessageError(`record field ${field} must be a list of at most ${max}`)
  return x.map((v, i) => str(v, `${field}[${i}]`))
}

const ROLES: NodeRole[] = ['relay', 'node', 'browser']
const RAFT_ROLES: RaftRole[] = ['voter', 'learner', 'none']
const TRANSPORTS: LinkTransport[] = ['tcp', 'websockets', 'webrtc', 'circuit-relay']

function oneOf<T extends string> (x: unknown, allowed: T[], field: string): T {
  if (!allowed.includes(x as T)) throw new InvalidMessageError(`record field ${field} must be one of ${allowed.join(', ')}`)
  return x as T
}

/** Checks every field of a record from the network; unknown extra fields are dropped. */
export function validateRecord (x: Record<string, any>): NodeRecord {
  const caps = isObject(x.capabilities) ? x.capabilities : {}
  const load: Record<string, any> = isObject(x.load) ? x.load : {}
  if (!Array.isArray(x.links) || x.links.length > MAX_LINKS_PER_RECORD) throw new InvalidMessageError('record field links must be a list')
  const capabilities: Capabilities = {
    cpu: num(caps.cpu, 'capabilities.cpu'),
    memoryMb: num(caps.memoryMb, 'capabilities.memoryMb'),
    tags: strList(caps.tags, 'capabilities.tags', MAX_TAGS)
  }
  const l = validateLoad(load)
  const links: Link[] = x.links.map((link: unknown, i: number) => {
    if (!isObject(link)) throw new InvalidMessageError(`record field links[${i}] must be an object`)
    return { peer: str(link.peer, `links[${i}].peer`), transport: oneOf(link.transport, TRANSPORTS, `links[${i}].transport`) }
  })
  const ext = x.ext ?? {}
  if (!isObject(ext)) throw new InvalidMessageError('record field ext must be an object')
  return {
    peerId: str(x.peerId, 'peerId'),
    mesh: str(x.mesh, 'mesh'),
    role: oneOf(x.role, ROLES, 'role'),
    raft: oneOf(x.raft, RAFT_ROLES, 'raft'),
    addrs: strList(x.addrs, 'addrs', MAX_ADDRS_PER_RECORD),
    capabilities,
    load: l,
    links,
    version: str(x.version, 'version', 64),
    incarnation: num(x.incarnation, 'incarnation'),
    seq: num(x.seq, 'seq'),
    ts: num(x.ts, 'ts'),
    heartbeatMs: num(x.heartbeatMs, 'heartbeatMs', 10),
    hidden: x.hidden === true,
    ext
  }
}

function validateLoad (load: Record<string, any>): Load {
  return {
    agents: num(load.agents, 'load.agents'),
    cpu: num(load.cpu, 'load.cpu'),
    memoryMb: num(load.memoryMb, 'load.memoryMb'),
    rssMb: num(load.rssMb, 'load.rssMb'),
    eventLoopLagMs: num(load.eventLoopLagMs, 'load.eventLoopLagMs')
  }
}

/** Checks every field of a heartbeat from the network; unknown extra fields are dropped. */
export function validateHeartbeat (x: Record<string, any>): Heartbeat {
  if (!isObject(x.load)) throw new InvalidMessageError('heartbeat field load must be an object')
  const heartbeat: Heartbeat = {
    peerId: str(x.peerId, 'peerId'),
    incarnation: num(x.incarnation, 'incarnation'),
    seq: num(x.seq, 'seq'),
    recordSeq: num(x.recordSeq, 'recordSeq'),
    ts: num(x.ts, 'ts'),
    load: validateLoad(x.load)
  }
  if (heartbeat.recordSeq > heartbeat.seq) throw new InvalidMessageError(`heartbeat ${heartbeat.seq} names a later record (${heartbeat.recordSeq})`)
  return heartbeat
}
