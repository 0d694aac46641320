/**
 * One `/agentmesh/rpc/<version>` stream, carrying envelopes both ways. Writes are queued and
 * flushed once per microtask as a single stream write (many envelopes, one yamux frame, one Noise
 * record, one syscall); on an RPC 2.0 stream they also go in batch frames. Under backpressure
 * (`send` false) the queue waits for drain, bounded by RPC_LINK_MAX_QUEUED_BYTES. The read loop
 * decodes frames (and 2.0 batches) and hands each envelope on. Bad framing aborts the stream (the
 * peer is misbehaving); a bad envelope inside a good frame is left to the handler, which logs and
 * drops it.
 */
import { CapacityError, UnreachableError } from '../errors.ts'
import { RPC_LINK_MAX_QUEUED_BYTES } from './constants.ts'
import { FrameDecoder, decodeBatchFrame, encodeFrames } from './framing.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Logger } from '../util/logger.ts'
import type { StreamChunk } from './framing.ts'

/** what the link needs from a libp2p v3 Stream */
export interface RpcStream extends AsyncIterable<StreamChunk> {
  send: (data: Uint8Array) => boolean
  onDrain: (options?: AbortOptions) => Promise<void>
  close: (options?: AbortOptions) => Promise<void>
  abort: (err: Error) => void
  readonly status?: string
  /** the protocol multistream-select agreed on */
  readonly protocol?: string
}

export class RpcLink {
  readonly remotePeer: string
  /** the RPC protocol major version of this stream (1 or 2) */
  readonly version: number
  private readonly stream: RpcStream
  private readonly log: Logger
  private closed = false
  private queue: Uint8Array[] = []
  private queuedBytes = 0
  private flushScheduled = false
  private draining = false
  /** resolves when the read loop has ended */
  readonly done: Promise<void>

  constructor (stream: RpcStream, remotePeer: string, version: number, log: Logger, onFrame: (envelope: Uint8Array, link: RpcLink) => void, onClose: (link: RpcLink) => void) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.version = version
    this.log = log
    this.done = this.readLoop(onFrame).finally(() => {
      this.closed = true
      onClose(this)
    })
  }

  get isOpen (): boolean {
    return !this.closed && (this.stream.status == null || this.stream.status === 'open')
  }

  /**
   * queues one envelope; it goes out with the others queued in this microtask. Throws
   * UnreachableError when the stream is closed, CapacityError when too much waits for drain.
   */
  write (envelopeBytes: Uint8Array): void {
    if (!this.isOpen) throw new UnreachableError(`rpc stream to ${this.remotePeer} is closed`)
    if (this.queuedBytes + envelopeBytes.length > RPC_LINK_MAX_QUEUED_BYTES) {
      throw new CapacityError(`rpc stream to ${this.remotePeer}: ${this.queuedBytes} bytes wait for the peer to read`)
    }
    this.queue.push(envelopeBytes)
    this.queuedBytes += envelopeBytes.length
    if (!this.flushScheduled && !this.draining) {
      this.flushScheduled = true
      queueMicrotask(this.flush)
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.flush()
    this.closed = true
    try { await this.stream.close({ signal: AbortSignal.timeout(1000) }) } catch (err) {
      this.stream.abort(err as Error)
    }
  }

  abort (err: Error): void {
    this.closed = true
    this.queue = []
    this.stream.abort(err)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    if (this.draining || this.queue.length === 0) return
    const bodies = this.queue
    this.queue = []
    this.queuedBytes = 0
    if (this.closed) return
    try {
      if (!this.stream.send(encodeFrames(bodies, this.version >= 2))) {
        this.draining = true
        this.stream.onDrain().then(() => {
          this.draining = false
          this.flush()
        }, (err: Error) => {
          this.log('rpc stream to %s did not drain: %s', this.remotePeer, err.message)
          this.abort(err)
        })
      }
    } catch (err) {
      this.log('rpc stream to %s failed: %s', this.remotePeer, (err as Error).message)
      this.abort(err as Error)
    }
  }

  private async readLoop (onEnvelope: (envelope: Uint8Array, link: RpcLink) => void): Promise<void> {
    const decoder = new FrameDecoder()
    const batched = this.version >= 2
    try {
      for await (const chunk of this.stream) {
        for (const frame of decoder.push(chunk)) {
          if (!batched) onEnvelope(frame, this)
          else for (const envelope of decodeBatchFrame(frame)) onEnvelope(envelope, this)
        }
      }
      decoder.end()
      // the remote closed its end: close ours too, so the stream is gone on both sides
      this.closed = true
      await this.stream.close({ signal: AbortSignal.timeout(1000) }).catch((err: Error) => { this.stream.abort(err) })
    } catch (err) {
      this.log('rpc stream with %s ended: %s: %s', this.remotePeer, (err as Error).name, (err as Error).message)
      if ((err as Error).name === 'InvalidMessageError' || (err as Error).name === 'MessageTooLargeError') this.stream.abort(err as Error)
    }
  }
}
