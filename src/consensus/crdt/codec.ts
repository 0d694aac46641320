/**
 * Wire messages of the replicated documents: `[version, type, ...fields]` in lib0 encoding.
 * Gossip messages travel on the doc's topic; sync messages travel on `/agentmesh/sync/1.0.0`
 * streams, split into frames of at most MAX_FRAME_BYTES. Unknown trailing fields are ignored
 * (minor versions); an unknown major version is refused.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { InvalidMessageError, MessageTooLargeError, UnsupportedVersionError } from '../../errors.ts'
import { CRDT_WIRE_VERSION, MAX_DOC_ID_LENGTH, MAX_FRAME_BYTES, MAX_HOLDERS_LISTED, MAX_PEER_ID_LENGTH, MAX_STATE_VECTOR_BYTES } from './constants.ts'

export const enum GossipType {
  Update = 0,
  State = 1,
  /** several local updates of one burst, applied in one transaction (cheaper than merging them) */
  Updates = 2,
  /** a member's wanted holders: replicas it recruited that are not listed may release the doc */
  Holders = 3
}

/** what a STATE message's sender is for the doc (trailing field; absent: unknown) */
export const enum HolderRole {
  Unknown = 0,
  Replica = 1,
  Member = 2
}

/** why a STATE message was sent */
export const enum StateReason {
  /** the sender persisted more updates */
  Ack = 0,
  /** periodic anti-entropy digest */
  Digest = 1,
  /** the sender has an update too big for gossip: pull it */
  Announce = 2,
  /** the sender dropped the doc (placement moved it): stop counting it as a holder */
  Released = 3
}

export type GossipMessage =
  | { type: GossipType.Update, update: Uint8Array }
  /** `stateVector`: the sender's doc; `persisted`: what the sender holds durably (its ack) */
  /** `fingerprint`: hash of the sender's state vector and delete set (finds lost deletes) */
  | { type: GossipType.State, reason: StateReason, holder: boolean, stateVector: Uint8Array, persisted: Uint8Array, fingerprint: number, role?: HolderRole }
  | { type: GossipType.Updates, updates: Uint8Array[] }
  | { type: GossipType.Holders, holders: string[] }

export const enum SyncType {
  Open = 10,
  Sync = 11,
  Done = 12,
  Error = 13
}

export type SyncMessage =
  /** `policy`: the asking member's conflict policy name (trailing field; '' when not given) */
  | { type: SyncType.Open, docId: string, hold: boolean, owner: string, policy?: string }
  /** a y-protocols sync message (step 1 or step 2), carried whole */
  | { type: SyncType.Sync, payload: Uint8Array }
  | { type: SyncType.Done }
  | { type: SyncType.Error, name: string, message: string }

export function isUpdateMessage (m: GossipMessage): m is Extract<GossipMessage, { type: GossipType.Update }> {
  return m.type === GossipType.Update
}

/** bytes the UPDATES framing adds to its updates at most: header, count, and a length per update */
export function updatesOverheadBytes (count: number, bytes: number): number {
  return 4 + 5 + count * (bytes > 0x1fffff ? 5 : 3)
}

export function isStateMessage (m: GossipMessage): m is Extract<GossipMessage, { type: GossipType.State }> {
  return m.type === GossipType.State
}

export function encodeGossip (m: GossipMessage): Uint8Array {
  return encoding.encode(e => {
    encoding.writeVarUint(e, CRDT_WIRE_VERSION)
    encoding.writeVarUint(e, m.type)
    if (m.type === GossipType.Update) {
      encoding.writeVarUint8Array(e, m.update)
    } else if (m.type === GossipType.Updates) {
      encoding.writeVarUint(e, m.updates.length)
      for (const u of m.updates) encoding.writeVarUint8Array(e, u)
    } else if (m.type === GossipType.Holders) {
      encoding.writeVarUint(e, m.holders.length)
      for (const h of m.holders) encoding.writeVarString(e, h)
    } else {
      encoding.writeVarUint(e, m.reason)
      encoding.writeVarUint(e, m.holder ? 1 : 0)
      encoding.writeVarUint8Array(e, m.stateVector)
      encoding.writeVarUint8Array(e, m.persisted)
      encoding.writeVarUint(e, m.fingerprint)
      encoding.writeVarUint(e, m.role ?? HolderRole.Unknown)
    }
  })
}

export function decodeGossip (data: Uint8Array, maxBytes: number): GossipMessage {
  if (data.byteLength > maxBytes) {
    throw new MessageTooLargeError(`gossip message of ${data.byteLength} bytes exceeds ${maxBytes}`)
  }
  return guard(() => {
    const d = decoding.createDecoder(data)
    readVersion(d)
    const type = decoding.readVarUint(d)
    switch (type) {
      case GossipType.Update:
        return { type, update: decoding.readVarUint8Array(d) }
      case GossipType.Updates: {
        const count = decoding.readVarUint(d)
        // every update takes at least 2 bytes: a count beyond that is a lie
        if (count === 0 || count > data.byteLength / 2) throw new InvalidMessageError(`bad update count ${count}`)
        const updates: Uint8Array[] = []
        for (let i = 0; i < count; i++) updates.push(decoding.readVarUint8Array(d))
        return { type, updates }
      }
      case GossipType.State: {
        const reason = decoding.readVarUint(d)
        if (reason > StateReason.Released) throw new InvalidMessageError(`unknown state reason ${reason}`)
        const holder = decoding.readVarUint(d) === 1
        const stateVector = decoding.readVarUint8Array(d)
        const persisted = decoding.readVarUint8Array(d)
        const fingerprint = decoding.readVarUint(d)
        if (stateVector.byteLength > MAX_STATE_VECTOR_BYTES || persisted.byteLength > MAX_STATE_VECTOR_BYTES) {
          throw new MessageTooLargeError('state vector too large')
        }
        const r = decoding.hasContent(d) ? decoding.readVarUint(d) : HolderRole.Unknown
        const role = r === HolderRole.Replica || r === HolderRole.Member ? r : HolderRole.Unknown
        return { type, reason, holder, stateVector, persisted, fingerprint, role }
      }
      case GossipType.Holders: {
        const count = decoding.readVarUint(d)
        if (count > MAX_HOLDERS_LISTED) throw new InvalidMessageError(`${count} holders listed, at most ${MAX_HOLDERS_LISTED}`)
        const holders: string[] = []
        for (let i = 0; i < count; i++) {
          const h = decoding.readVarString(d)
          if (h.length === 0 || h.length > MAX_PEER_ID_LENGTH) throw new InvalidMessageError('bad holder id')
          holders.push(h)
        }
        return { type, holders }
      }
      default:
        throw new InvalidMessageError(`unknown gossip message type ${type}`)
    }
  })
}

export function encodeSync (m: SyncMessage): Uint8Array {
  return encoding.encode(e => {
    encoding.writeVarUint(e, CRDT_WIRE_VERSION)
    encoding.writeVarUint(e, m.type)
    switch (m.type) {
      case SyncType.Open:
        encoding.writeVarString(e, m.docId)
        encoding.writeVarUint(e, m.hold ? 1 : 0)
        encoding.writeVarString(e, m.owner)
        encoding.writeVarString(e, m.policy ?? '')
        break
      case SyncType.Sync:
        encoding.writeVarUint8Array(e, m.payload)
        break
      case SyncType.Done:
        break
      case SyncType.Error:
        encoding.writeVarString(e, m.name.slice(0, 64))
        encoding.writeVarString(e, m.message.slice(0, 512))
        break
    }
  })
}

/**
 * a SYNC message whose y-protocols payload is given as consecutive parts: the encoding of
 * `{ type: Sync, payload: parts joined }` as a header followed by the parts themselves (no copy)
 */
export function encodeSyncPayload (payload: readonly Uint8Array[]): Uint8Array[] {
  let size = 0
  for (const p of payload) size += p.byteLength
  const header = encoding.encode(e => {
    encoding.writeVarUint(e, CRDT_WIRE_VERSION)
    encoding.writeVarUint(e, SyncType.Sync)
    encoding.writeVarUint(e, size)
  })
  return [header, ...payload]
}

export function decodeSync (data: Uint8Array): SyncMessage {
  return guard(() => {
    const d = decoding.createDecoder(data)
    readVersion(d)
    const type = decoding.readVarUint(d)
    switch (type) {
      case SyncType.Open: {
        const docId = decoding.readVarString(d)
        validateDocId(docId)
        const hold = decoding.readVarUint(d) === 1
        const owner = decoding.readVarString(d)
        if (owner.length > MAX_PEER_ID_LENGTH) throw new InvalidMessageError('owner id too long')
        const policy = decoding.hasContent(d) ? decoding.readVarString(d) : ''
        if (policy.length > 100) throw new InvalidMessageError('policy name too long')
        return { type, docId, hold, owner, policy }
      }
      case SyncType.Sync:
        return { type, payload: decoding.readVarUint8Array(d) }
      case SyncType.Done:
        return { type }
      case SyncType.Error:
        return { type, name: decoding.readVarString(d).slice(0, 64), message: decoding.readVarString(d).slice(0, 512) }
      default:
        throw new InvalidMessageError(`unknown sync message type ${type}`)
    }
  })
}

/** doc ids are 1..MAX_DOC_ID_LENGTH printable ASCII characters without spaces */
export function validateDocId (docId: string): void {
  if (typeof docId !== 'string' || docId.length === 0 || docId.length > MAX_DOC_ID_LENGTH || !/^[\x21-\x7e]+$/.test(docId)) {
    throw new InvalidMessageError(`invalid document id ${JSON.stringify(String(docId).slice(0, 40))}`)
  }
}

/** frame = [flags: 1 byte (bit 0: more frames of this message follow), ...payload] */
const FRAME_MORE = 1
const FRAME_FLAGS = [Uint8Array.of(0), Uint8Array.of(FRAME_MORE)]

/**
 * splits one message, given whole or as consecutive parts, into frames of at most `maxFrameBytes`,
 * each returned as its parts (the flags byte, then views into the message: nothing is copied)
 */
export function frameParts (message: Uint8Array | readonly Uint8Array[], maxFrameBytes = MAX_FRAME_BYTES): Uint8Array[][] {
  const parts = message instanceof Uint8Array ? [message] : message
  const room = maxFrameBytes - 1
  if (room < 1) throw new InvalidMessageError(`frame limit ${maxFrameBytes} leaves no room`)
  let left = 0
  for (const p of parts) left += p.byteLength
  const frames: Uint8Array[][] = []
  let frame: Uint8Array[] = []
  let used = 0
  const closeFrame = (): void => {
    frame.unshift(FRAME_FLAGS[left > 0 ? 1 : 0])
    frames.push(frame)
    frame = []
    used = 0
  }
  for (const p of parts) {
    let offset = 0
    while (offset < p.byteLength) {
      const n = Math.min(p.byteLength - offset, room - used)
      frame.push(offset === 0 && n === p.byteLength ? p : p.subarray(offset, offset + n))
      offset += n
      used += n
      left -= n
      if (used === room && left > 0) closeFrame()
    }
  }
  closeFrame()
  return frames
}

/** splits one message into frames of at most `maxFrameBytes`, each joined into one array */
export function toFrames (message: Uint8Array | readonly Uint8Array[], maxFrameBytes = MAX_FRAME_BYTES): Uint8Array[] {
  return frameParts(message, maxFrameBytes).map(joinParts)
}

/** the parts concatenated (the part itself when there is only one) */
export function joinParts (parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]
  let size = 0
  for (const p of parts) size += p.byteLength
  const out = new Uint8Array(size)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.byteLength }
  return out
}

/** reassembles frames into messages, refusing any message larger than `maxMessageBytes` */
export class FrameAssembler {
  private parts: Uint8Array[] = []
  private size = 0

  constructor (private readonly maxMessageBytes: number, private readonly maxFrameBytes = MAX_FRAME_BYTES) {}

  /** feeds one frame; returns the completed message (a view into the frame if it was whole) */
  push (frame: Uint8Array): Uint8Array | undefined {
    if (frame.byteLength < 1 || frame.byteLength > this.maxFrameBytes) {
      throw new InvalidMessageError(`frame of ${frame.byteLength} bytes outside 1..${this.maxFrameBytes}`)
    }
    if ((frame[0] & ~FRAME_MORE) !== 0) throw new InvalidMessageError('unknown frame flags')
    this.size += frame.byteLength - 1
    if (this.size > this.maxMessageBytes) {
      throw new MessageTooLargeError(`sync message exceeds ${this.maxMessageBytes} bytes`)
    }
    this.parts.push(frame.subarray(1))
    if ((frame[0] & FRAME_MORE) !== 0) return undefined
    const out = joinParts(this.parts)
    this.parts = []
    this.size = 0
    return out
  }
}

function readVersion (d: decoding.Decoder): void {
  const version = decoding.readVarUint(d)
  if (version !== CRDT_WIRE_VERSION) throw new UnsupportedVersionError(`crdt wire version ${version} not supported`)
}

/** turns any decoding failure into InvalidMessageError, keeping our typed errors as they are */
function guard<T> (fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof InvalidMessageError || err instanceof UnsupportedVersionError || err instanceof MessageTooLargeError) throw err
    throw new InvalidMessageError('malformed crdt message', { cause: err })
  }
}
