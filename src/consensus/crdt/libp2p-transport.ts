/**
 * DocTransport over a libp2p node: gossipsub for the doc topics, `/agentmesh/sync/1.0.0` streams
 * carrying varint-length-prefixed frames (each at most MAX_FRAME_BYTES, so a frame fits one WebRTC
 * message), and the node's connection events for peer join/leave.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p, PeerId as Libp2pPeerId, Stream } from '@libp2p/interface'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import { InvalidMessageError, UnreachableError, describeError } from '../../errors.ts'
import type { AbortOptions } from '../../util/abort.ts'
import { componentLogger, type ComponentLogger } from '../../util/logger.ts'
import { MAX_FRAME_BYTES } from './constants.ts'
import type { DocStream, DocTransport, PeerEvent, PeerId } from './types.ts'

export type Libp2pWithPubsub = Libp2p<{ pubsub: GossipSub }>

/** at most 3 bytes of varint length precede a frame of up to 16 KiB */
const MAX_PREFIX_BYTES = 3

function encodeLength (n: number): Uint8Array {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7 }
  out.push(n)
  return Uint8Array.from(out)
}

/** one libp2p stream as a duplex of frames */
export class Libp2pDocStream implements DocStream {
  constructor (private readonly stream: Stream) {}

  async send (frame: Uint8Array, options?: AbortOptions): Promise<void> {
    if (frame.byteLength > MAX_FRAME_BYTES) throw new InvalidMessageError(`frame of ${frame.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
    const prefix = encodeLength(frame.byteLength)
    const out = new Uint8Array(prefix.byteLength + frame.byteLength)
    out.set(prefix, 0)
    out.set(frame, prefix.byteLength)
    if (!this.stream.send(out)) await this.stream.onDrain(options)
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    let buffer = new Uint8Array(0)
    for await (const chunk of this.stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      const joined = new Uint8Array(buffer.byteLength + bytes.byteLength)
      joined.set(buffer, 0)
      joined.set(bytes, buffer.byteLength)
      buffer = joined
      for (;;) {
        let length = 0
        let shift = 0
        let i = 0
        let complete = false
        while (i < buffer.byteLength && i < MAX_PREFIX_BYTES) {
          const b = buffer[i++]
          length |= (b & 0x7f) << shift
          shift += 7
          if ((b & 0x80) === 0) { complete = true; break }
        }
        if (!complete) {
          if (buffer.byteLength >= MAX_PREFIX_BYTES) throw new InvalidMessageError('malformed frame length')
          break
        }
        if (length > MAX_FRAME_BYTES) throw new InvalidMessageError(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
        if (buffer.byteLength < i + length) break
        yield buffer.slice(i, i + length)
        buffer = buffer.subarray(i + length)
      }
    }
    if (buffer.byteLength > 0) throw new InvalidMessageError('stream ended inside a frame')
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
        runOnLimitedConnection: this.init.runOnLimitedConnection ?? true
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
