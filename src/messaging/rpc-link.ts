/**
 * One `/agentmesh/rpc/1.0.0` stream, carrying length-prefixed envelopes both ways. Writes respect
 * backpressure (`send` false -> wait for drain); the read loop decodes frames and hands each one
 * on. Bad framing aborts the stream (the peer is misbehaving); a bad envelope inside a good frame
 * is left to the handler, which logs and drops it.
 */
import { UnreachableError } from '../errors.ts'
import { FrameDecoder, encodeFrame } from './framing.ts'
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
}

export class RpcLink {
  readonly remotePeer: string
  private readonly stream: RpcStream
  private readonly log: Logger
  private closed = false
  /** resolves when the read loop has ended */
  readonly done: Promise<void>

  constructor (stream: RpcStream, remotePeer: string, log: Logger, onFrame: (frame: Uint8Array, link: RpcLink) => void, onClose: (link: RpcLink) => void) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.log = log
    this.done = this.readLoop(onFrame).finally(() => {
      this.closed = true
      onClose(this)
    })
  }

  get isOpen (): boolean {
    return !this.closed && (this.stream.status == null || this.stream.status === 'open')
  }

  /** writes one envelope as a frame; waits for drain under backpressure */
  async write (envelopeBytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    if (!this.isOpen) throw new UnreachableError(`rpc stream to ${this.remotePeer} is closed`)
    try {
      if (!this.stream.send(encodeFrame(envelopeBytes))) await this.stream.onDrain(options)
    } catch (err) {
      if ((err as Error).name === 'AbortError' || (err as Error).name === 'TimeoutError') throw err
      throw new UnreachableError(`rpc stream to ${this.remotePeer} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    try { await this.stream.close({ signal: AbortSignal.timeout(1000) }) } catch (err) {
      this.stream.abort(err as Error)
    }
  }

  abort (err: Error): void {
    this.closed = true
    this.stream.abort(err)
  }

  private async readLoop (onFrame: (frame: Uint8Array, link: RpcLink) => void): Promise<void> {
    const decoder = new FrameDecoder()
    try {
      for await (const chunk of this.stream) {
        for (const frame of decoder.push(chunk)) onFrame(frame, this)
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
