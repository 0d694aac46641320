/**
 * DocTransport over a libp2p node: gossipsub for the doc topics, `/agentmesh/sync/1.0.0` streams
 * carrying varint-length-prefixed frames (each at most LIBP2P_MAX_FRAME_BYTES; libp2p cuts them
 * into 16 KiB messages on WebRTC), and the node's connection events for peer join/leave.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId as Libp2pPeerId, Stream } from '@libp2p/interface'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import { InvalidMessageError, UnreachableError, describeError } from '../../errors.ts'
import type { AbortOptions } from '../../util/abort.ts'
import { componentLogger, type ComponentLogger } from '../../util/logger.ts'
import { LIBP2P_MAX_FRAME_BYTES } from './constants.ts'
import { joinParts } from './codec.ts'
import type { DocStream, DocTransport, PeerEvent, PeerId } from './types.ts'

export type Libp2pWithPubsub = Libp2p<{ pubsub: GossipSub }>

/** a varint of at most 4 bytes precedes a frame (LIBP2P_MAX_FRAME_BYTES < 2^28) */
const MAX_PREFIX_BYTES = 4

/** parts smaller than this are joined before a write; bigger ones are written as they are */
const JOIN_BELOW_BYTES = 64 * 1024

function encodeLength (n: number): Uint8Array {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return Uint8Array.from(out)
}

/**
 * one libp2p stream as a duplex of frames of up to LIBP2P_MAX_FRAME_BYTES: libp2p splits each
 * write into messages its transport takes (16 KiB on a WebRTC data channel), so frames need not
 * be small. Big parts are written without copying; a received frame that lies inside one chunk
 * is handed on as a view, others are joined from the chunks once complete.
 */
export class Libp2pDocStream implements DocStream {
  readonly maxFrameBytes: number

  constructor (private readonly stream: Stream, maxFrameBytes = LIBP2P_MAX_FRAME_BYTES) {
    this.maxFrameBytes = Math.min(maxFrameBytes, LIBP2P_MAX_FRAME_BYTES)
  }

  async send (frame: Uint8Array | readonly Uint8Array[], options?: AbortOptions): Promise<void> {
    const parts = frame instanceof Uint8Array ? [frame] : frame
    let size = 0
    for (const p of parts) size += p.byteLength
    if (size > this.maxFrameBytes) throw new InvalidMessageError(`frame of ${size} bytes exceeds ${this.maxFrameBytes}`)
    let writable = true
    let pending: Uint8Array[] = [encodeLength(size)]
    let pendingBytes = 0
    const write = (data: Uint8Array): void => { if (!this.stream.send(data)) writable = false }
    const writePending = (): void => {
      if (pending.length > 0) write(joinParts(pending))
      pending = []
      pendingBytes = 0
    }
    for (const p of parts) {
      if (p.byteLength >= JOIN_BELOW_BYTES) {
        writePending()
        write(p)
      } else if (p.byteLength > 0) {
        pending.push(p)
        pendingBytes += p.byteLength
        if (pendingBytes >= JOIN_BELOW_BYTES) writePending()
      }
    }
    writePending()
    if (!writable) await this.stream.onDrain(options)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    let length = 0
    let prefixBytes = 0
    // the frame being received, as views of the chunks it arrived in (memory follows the data,
    // not the announced length); joined once, when complete
    let parts: Uint8Array[] | undefined
    let missing = 0
    for await (const chunk of this.stream) {
      // a chunk of several buffers is read buffer by buffer (its subarray() would copy them all)
      for (const bytes of chunk instanceof Uint8Array ? [chunk] : chunk) {
        let i = 0
        while (i < bytes.byteLength) {
          if (parts != null) {
            const n = Math.min(missing, bytes.byteLength - i)
            parts.push(bytes.subarray(i, i + n))
            missing -= n
            i += n
            if (missing === 0) { const done = joinParts(parts); parts = undefined; yield done }
            continue
          }
          const b = bytes[i++]
          length += (b & 0x7f) * 2 ** (7 * prefixBytes)
          prefixBytes++
          if ((b & 0x80) !== 0) {
            if (prefixBytes >= MAX_PREFIX_BYTES) throw new InvalidMessageError('malformed frame length')
            continue
          }
          if (length > this.maxFrameBytes) throw new InvalidMessageError(`frame of ${length} bytes exceeds ${this.maxFrameBytes}`)
          const size = length
          length = 0
          prefixBytes = 0
          if (bytes.byteLength - i >= size) {
            i += size
            yield bytes.subarray(i - size, i)
          } else {
            parts = []
            missing = size
          }
        }
      }
    }
    if (parts != null || prefixBytes > 0) throw new InvalidMessageError('stream ended inside a frame')
  }

  async close (options?: AbortOptions): Promise<void> {
    await this.stream.close(options)
  }

  abort (err: Error): void {
    this.stream.abort(err)
  }
}

export interface Libp2pDocTransportInit {
  logger?: ComponentLogger
  /** let sync streams run over relayed (limited) connections, as browser tabs need until upgraded */
  runOnLimitedConnection?: boolean
}

export class Libp2pDocTransport implements DocTransport {
  readonly peerId: PeerId
  private readonly handlers = new Map<string, Set<(data: Uint8Array, from: PeerId) => void>>()
  private readonly log
  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.type !== 'signed') return // unattributable: refused
    const set = this.handlers.get(msg.topic)
    if (set == null) return
    const from = msg.from.toString()
    for (const h of [...set]) {
      try { h(msg.data, from) } catch (err) { this.log.error('topic handler failed: %s', describeError(err).message) }
    }
  }

  constructor (private readonly node: Libp2pWithPubsub, private readonly init: Libp2pDocTransportInit = {}) {
    this.peerId = node.peerId.toString()
    this.log = componentLogger('crdt:libp2p', init.logger)
  }

  async publish (topic: string, data: Uint8Array, options?: AbortOptions): Promise<void> {
    options?.signal?.throwIfAborted()
    await this.node.services.pubsub.publish(topic, data)
  }

  subscribe (topic: string, handler: (data: Uint8Array, from: PeerId) => void): () => void {
    let set = this.handlers.get(topic)
    if (set == null) {
      set = new Set()
      this.handlers.set(topic, set)
      if (this.handlers.size === 1) this.node.services.pubsub.addEventListener('message', this.onMessage)
      this.node.services.pubsub.subscribe(topic)
    }
    set.add(handler)
    return () => {
      if (!set.delete(handler) || set.size > 0 || this.handlers.get(topic) !== set) return
      this.handlers.delete(topic)
      this.node.services.pubsub.unsubscribe(topic)
      if (this.handlers.size === 0) this.node.services.pubsub.removeEventListener('message', this.onMessage)
    }
  }

  async openStream (peer: PeerId, protocol: string, options?: AbortOptions): Promise<DocStream> {
    let target: Libp2pPeerId
    try { target = peerIdFromString(peer) } catch (err) { throw new UnreachableError(`invalid peer id ${peer}`, { cause: err }) }
    try {
      const stream = await this.node.dialProtocol(target, protocol, {
        signal: options?.signal,
        runOnLimitedConnection: this.init.runOnLimitedConnection ?? true,
        // the opener writes first (OPEN): the protocol name goes out with it, saving a round trip
        negotiateFully: false
      })
      return new Libp2pDocStream(stream)
    } catch (err) {
      if (options?.signal?.aborted === true) throw err
      throw new UnreachableError(`could not open ${protocol} to ${peer}: ${describeError(err).message}`, { cause: err })
    }
  }

  handle (protocol: string, handler: (stream: DocStream, from: PeerId) => void): () => void {
    let active = true
    const registered = this.node.handle(protocol, (stream, connection) => {
      if (!active) { stream.abort(new UnreachableError('protocol no longer handled')); return }
      handler(new Libp2pDocStream(stream), connection.remotePeer.toString())
    }, { runOnLimitedConnection: this.init.runOnLimitedConnection ?? true }).catch(err => {
      this.log.error('could not handle %s: %s', protocol, describeError(err).message)
    })
    return () => {
      active = false
      void registered.then(async () => { await this.node.unhandle(protocol) }).catch(() => {})
    }
  }

  peers (): PeerId[] {
    return this.node.getPeers().map(p => p.toString())
  }

  onPeer (listener: (event: PeerEvent) => void): () => void {
    const onConnect = (e: CustomEvent<Libp2pPeerId>): void => { listener({ type: 'join', peer: e.detail.toString() }) }
    const onDisconnect = (e: CustomEvent<Libp2pPeerId>): void => { listener({ type: 'leave', peer: e.detail.toString() }) }
    this.node.addEventListener('peer:connect', onConnect)
    this.node.addEventListener('peer:disconnect', onDisconnect)
    return () => {
      this.node.removeEventListener('peer:connect', onConnect)
      this.node.removeEventListener('peer:disconnect', onDisconnect)
    }
  }
}

export function libp2pDocTransport (node: Libp2pWithPubsub, init?: Libp2pDocTransportInit): Libp2pDocTransport {
  return new Libp2pDocTransport(node, init)
}
