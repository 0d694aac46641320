/**
 * The catch-up exchange over one `/agentmesh/sync/1.0.0` stream, the y-protocols way for peers:
 * both sides send sync step 1 (their state vector), answer the other's step 1 with step 2 (what
 * the other lacks), and confirm a received step 2 with DONE. A side is synced once it has both
 * received step 2 and seen DONE. The initiator opens with OPEN (doc id, and whether it asks the
 * responder to become a holder). Every message is split into frames of at most the stream's
 * `maxFrameBytes`; a step 2 goes out as views of the encoded update, never copied on the way.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as syncProtocol from 'y-protocols/sync'
import type * as Y from 'yjs'
import { InvalidMessageError, NotFoundError, UnreachableError, AgentMeshError, CapacityError, MessageTooLargeError, UnauthorizedError, UnsupportedVersionError } from '../../errors.ts'
import type { AbortOptions } from '../../util/abort.ts'
import { decodeSync, encodeSync, encodeSyncPayload, FrameAssembler, frameParts, SyncType, type SyncMessage } from './codec.ts'
import type { DocStream } from './types.ts'

/** what the exchange needs from the local copy of the document */
export interface SyncTarget {
  doc: Y.Doc
  /** applies an update received from the peer (validated, remote origin); throws typed errors */
  applyRemote: (update: Uint8Array) => void
  /** what a peer at this (encoded) state vector lacks, as one update */
  stateAsUpdate: (stateVector: Uint8Array) => Uint8Array
  /**
   * called once the peer's step 2 is applied: the local copy now holds all the peer had when the
   * exchange began (what is left of the exchange, the DONE and the close, is for the peer's sake)
   */
  caughtUp?: () => void
}

const ERRORS_BY_NAME: Record<string, new (message: string) => AgentMeshError> = {
  NotFoundError, CapacityError, MessageTooLargeError, UnsupportedVersionError, InvalidMessageError, UnauthorizedError
}

/** reads whole messages from a stream of frames */
export class SyncMessageReader {
  private readonly frames: AsyncIterator<Uint8Array>
  private readonly assembler: FrameAssembler

  constructor (stream: DocStream, maxMessageBytes: number) {
    this.frames = stream[Symbol.asyncIterator]()
    this.assembler = new FrameAssembler(maxMessageBytes, stream.maxFrameBytes)
  }

  /** the next message, or undefined when the other side closed */
  async next (): Promise<SyncMessage | undefined> {
    for (;;) {
      const r = await this.frames.next()
      if (r.done === true) return undefined
      const message = this.assembler.push(r.value)
      if (message != null) return decodeSync(message)
    }
  }
}

/** sends one message (or its encoding, as consecutive parts) in frames the stream carries */
export async function sendSyncMessage (stream: DocStream, message: SyncMessage | readonly Uint8Array[], options?: AbortOptions): Promise<void> {
  const encoded = Array.isArray(message) ? message : encodeSync(message as SyncMessage)
  for (const frame of frameParts(encoded, stream.maxFrameBytes)) await stream.send(frame, options)
}

/** y-protocols sync step 2 (what a peer at `stateVector` lacks) as parts: header, then the update */
function syncStep2Parts (target: SyncTarget, stateVector: Uint8Array): Uint8Array[] {
  const update = target.stateAsUpdate(stateVector)
  const header = encoding.encode(e => {
    encoding.writeVarUint(e, syncProtocol.messageYjsSyncStep2)
    encoding.writeVarUint(e, update.byteLength)
  })
  return [header, update]
}

/** sends an ERROR message telling the peer why we refuse, then closes */
export async function refuseSync (stream: DocStream, err: Error, options?: AbortOptions): Promise<void> {
  try {
    await sendSyncMessage(stream, { type: SyncType.Error, name: err.name, message: err.message }, options)
    await stream.close(options)
  } catch {
    stream.abort(err)
  }
}

export interface ExchangeResult {
  /** bytes of step 2 received */
  receivedBytes: number
  /** bytes of step 2 sent */
  sentBytes: number
}

/**
 * runs the symmetric exchange until both sides are synced; closes our side when done.
 * Rejects with a typed error (UnreachableError when the stream ends early); the caller aborts the stream.
 */
export async function runSyncExchange (stream: DocStream, reader: SyncMessageReader, target: SyncTarget, options?: AbortOptions): Promise<ExchangeResult> {
  const step1 = encoding.encode(e => { syncProtocol.writeSyncStep1(e, target.doc) })
  await sendSyncMessage(stream, { type: SyncType.Sync, payload: step1 }, options)
  let gotStep2 = false
  let gotDone = false
  const result: ExchangeResult = { receivedBytes: 0, sentBytes: 0 }
  while (!(gotStep2 && gotDone)) {
    const msg = await reader.next()
    if (msg == null) throw new UnreachableError('sync stream ended before the exchange finished')
    switch (msg.type) {
      case SyncType.Sync: {
        const d = decoding.createDecoder(msg.payload)
        let kind: number
        let body: Uint8Array
        try {
          kind = decoding.readVarUint(d)
          body = decoding.readVarUint8Array(d)
        } catch (err) {
          throw new InvalidMessageError('malformed y-protocols sync message', { cause: err })
        }
        if (kind === syncProtocol.messageYjsSyncStep1) {
          let step2: Uint8Array[]
          try {
            step2 = syncStep2Parts(target, body)
          } catch (err) {
            throw new InvalidMessageError('malformed state vector in sync step 1', { cause: err })
          }
          result.sentBytes += step2[1].byteLength
          await sendSyncMessage(stream, encodeSyncPayload(step2), options)
        } else if (kind === syncProtocol.messageYjsSyncStep2 || kind === syncProtocol.messageYjsUpdate) {
          target.applyRemote(body)
          result.receivedBytes += body.byteLength
          if (kind === syncProtocol.messageYjsSyncStep2 && !gotStep2) {
            gotStep2 = true
            target.caughtUp?.()
            await sendSyncMessage(stream, { type: SyncType.Done }, options)
          }
        } else {
          throw new InvalidMessageError(`unknown y-protocols message type ${kind}`)
        }
        break
      }
      case SyncType.Done:
        gotDone = true
        break
      case SyncType.Error: {
        const Cls = ERRORS_BY_NAME[msg.name] ?? UnreachableError
        throw new Cls(`peer refused sync: ${msg.message}`)
      }
      case SyncType.Open:
        throw new InvalidMessageError('unexpected OPEN in the middle of a sync')
    }
  }
  await stream.close(options)
  return result
}
