/**
 * The Raft transport over libp2p: one long-lived outbound `/agentmesh/raft/1.0.0` stream per peer
 * (we only write on ours and only read on theirs), each starting with a hello frame that names the
 * sender's group. The messages of one Ready for one peer go out as one frame; a MsgSnap goes as a
 * series of snapshot chunk frames. Sends never block the Raft loop: each peer has a bounded queue
 * drained by its own writer, which respects backpressure. A failed dial or write drops what was
 * queued and reports the peer unreachable (and any snapshot failed), as Raft expects of a lossy
 * network; after a failed dial the peer is in backoff for a short while.
 *
 * Refusals: a peer that drops what another sent (a proposal or read from a peer without a valid
 * credential) may answer with one small refusal frame, written back on the stream the refused
 * messages came on (so a refusal only ever goes to the peer that asked, never to a third party,
 * and needs no dial), at most RAFT_REFUSALS_PER_PEER_PER_S per peer. This peer reads its own
 * outbound streams only for those: anything else there, or a malformed refusal, is logged and
 * the rest of that stream's input ignored.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { MessageTooLargeError, UnreachableError, describeError } from '../errors.ts'
import { PeerRateLimiter } from '../security/index.ts'
import { FrameDecoder, encodeFrame } from '../messaging/framing.ts'
import type { StreamChunk } from '../messaging/framing.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock } from '../util/clock.ts'
import type { Logger } from '../util/logger.ts'
import {
  MAX_RAFT_FRAME_BYTES, MAX_RAFT_INBOUND_STREAMS, MAX_RAFT_PEER_QUEUE_BYTES, MAX_RAFT_PEER_QUEUE_FRAMES, MAX_RAFT_REFUSAL_FRAME_BYTES,
  RAFT_DIAL_BACKOFF_MAX_MS, RAFT_DIAL_BACKOFF_MIN_MS, RAFT_DIAL_TIMEOUT_MS, RAFT_PROTOCOL, RAFT_REFUSAL_BURST,
  RAFT_REFUSALS_PER_PEER_PER_S, RAFT_SNAPSHOT_CHUNK_BYTES
} from './constants.ts'
import { chunkSnapshot, SnapshotReassembler } from './raft/snapshot-chunks.ts'
import type { Message } from './raft/types.ts'
import {
  PACK_OVERHEAD_BYTES, decodeRaftFrame, decodeRefusalFrame, encodeHello, encodeMessage, encodeRefusal, encodeSnapshotChunk, packMessages
} from './raft-wire.ts'
import type { RaftRefusal } from './raft-wire.ts'

/** the events of a libp2p v3 stream the transport reads an inbound stream by */
export interface RaftStreamEvents {
  /** bytes from the remote */
  message: { data: StreamChunk }
  /** the remote will write no more */
  remoteCloseWrite: object
  /** this end closed, or was aborted or reset (`error`) */
  close: { error?: Error }
}

/** what the transport needs from a libp2p v3 stream */
export interface RaftStream extends AsyncIterable<StreamChunk> {
  addEventListener: <K extends keyof RaftStreamEvents>(type: K, listener: (evt: RaftStreamEvents[K]) => void) => void
  removeEventListener: <K extends keyof RaftStreamEvents>(type: K, listener: (evt: RaftStreamEvents[K]) => void) => void
  send: (data: Uint8Array) => boolean
  onDrain: (options?: AbortOptions) => Promise<void>
  close: (options?: AbortOptions) => Promise<void>
  abort: (err: Error) => void
  readonly status?: string
}

/** the slice of libp2p the transport uses */
export interface RaftLibp2p {
  handle: (protocol: string, handler: (stream: any, connection: { remotePeer: { toString: () => string } }) => void | Promise<void>, options?: { maxInboundStreams?: number, runOnLimitedConnection?: boolean }) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: any, protocol: string, options?: { signal?: AbortSignal, runOnLimitedConnection?: boolean }) => Promise<any>
  /** a connection to `peer` (an open one, or a new one): streams then open on a known connection */
  dial?: (peer: any, options?: { signal?: AbortSignal }) => Promise<RaftConnection>
}

/** the slice of a libp2p connection the transport uses (the handler's second argument) */
export interface RaftConnection {
  remotePeer: { toString: () => string }
  readonly id?: string
  readonly status?: string
  newStream?: (protocol: string, options?: { signal?: AbortSignal, runOnLimitedConnection?: boolean }) => Promise<any>
}

/** where received messages and send outcomes go (the driver) */
export interface RaftTransportHandler {
  /** a message from an authenticated peer; `groupId` is the group the sender announced ('' for none) */
  receive: (m: Message, groupId: string) => void
  unreachable: (peer: string) => void
  snapshotStatus: (peer: string, ok: boolean) => void
  /** this peer's group id now ('' before it has one) */
  groupId: () => string
  /** `peer` refused what this peer sent it (a well-formed refusal frame; whether to believe it is the handler's call) */
  refused?: (peer: string, refusal: RaftRefusal) => void
}

/** what the driver sends through: the libp2p transport, or a simulated one in tests */
export interface RaftSender {
  send: (to: string, messages: Message[]) => void
}

interface QueuedFrame {
  bytes: Uint8Array
  /** set on the last chunk of a snapshot: report success once written */
  snapshotDone?: boolean
  /** set on every chunk of a snapshot: report failure if dropped */
  snapshot?: boolean
}

class PeerSender {
  readonly peer: string
  private readonly transport: Libp2pRaftTransport
  private readonly queue: QueuedFrame[] = []
  private queuedBytes = 0
  private stream: RaftStream | undefined
  /** the connection `stream` was opened on, when known */
  private streamConn: RaftConnection | undefined
  /** the connection the peer last opened a stream to us on: ours goes there too */
  private preferred: RaftConnection | undefined
  private pumping = false
  private backoffUntil = 0
  private backoffMs = RAFT_DIAL_BACKOFF_MIN_MS
  private readonly controller = new AbortController()

  constructor (peer: string, transport: Libp2pRaftTransport) {
    this.peer = peer
    this.transport = transport
  }

  get inBackoff (): boolean {
    return this.transport.clock.monotonic() < this.backoffUntil
  }

  /**
   * the peer opened a stream to us on `conn`. When ours runs on another connection, that one is
   * likely stale: after a partition heals, the side that noticed the cut (its pings failed) dials
   * anew, while this side may still hold the old connection open, its writes waiting out TCP's
   * retransmission backoff (seconds) before anything arrives. Ours is closed and reopened on
   * `conn` (fault lab, split scenario: a minority peer knew no leader for 5-8 s after a heal,
   * the leader's heartbeats queued on the old connection).
   */
  preferConnection (conn: RaftConnection): void {
    if (conn.newStream === undefined) return
    this.preferred = conn
    this.backoffUntil = 0
    const stream = this.stream
    if (stream === undefined || this.streamConn === conn || (this.streamConn?.id !== undefined && this.streamConn.id === conn.id)) return
    this.transport.log('raft stream to %s moves to the connection it last reached us on', this.peer)
    this.stream = undefined
    this.streamConn = undefined
    stream.abort(new UnreachableError(`raft stream to ${this.peer} replaced: the peer reached us on another connection`))
  }

  /** queues frames; false (nothing queued) when the queue is full */
  enqueue (frames: QueuedFrame[]): boolean {
    let bytes = 0
    for (const f of frames) bytes += f.bytes.byteLength
    if (this.queue.length + frames.length > MAX_RAFT_PEER_QUEUE_FRAMES || this.queuedBytes + bytes > MAX_RAFT_PEER_QUEUE_BYTES) return false
    for (const f of frames) this.queue.push(f)
    this.queuedBytes += bytes
    if (!this.pumping) void this.pump()
    return true
  }

  private async pump (): Promise<void> {
    this.pumping = true
    try {
      while (this.queue.length > 0 && !this.controller.signal.aborted) {
        if (this.stream === undefined || (this.stream.status !== undefined && this.stream.status !== 'open')) {
          this.stream = undefined
          this.stream = await this.open()
        }
        const f = this.queue.shift()!
        this.queuedBytes -= f.bytes.byteLength
        if (!this.stream.send(f.bytes)) await this.stream.onDrain({ signal: this.controller.signal })
        if (f.snapshotDone === true) this.transport.handler.snapshotStatus(this.peer, true)
      }
    } catch (err) {
      if (!this.controller.signal.aborted) {
        this.transport.log('raft stream to %s failed: %s', this.peer, describeError(err).message)
        this.stream?.abort(err as Error)
      }
      this.stream = undefined
      this.dropAll()
    } finally {
      this.pumping = false
    }
  }

  private async open (): Promise<RaftStream> {
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(RAFT_DIAL_TIMEOUT_MS)])
      const options = { signal, runOnLimitedConnection: true }
      let conn = this.preferred !== undefined && (this.preferred.status === undefined || this.preferred.status === 'open') ? this.preferred : undefined
      if (conn === undefined && this.transport.libp2p.dial !== undefined) conn = await this.transport.libp2p.dial(peerIdFromString(this.peer), { signal })
      const stream: RaftStream = conn?.newStream !== undefined
        ? await conn.newStream(RAFT_PROTOCOL, options)
        : await this.transport.libp2p.dialProtocol(peerIdFromString(this.peer), RAFT_PROTOCOL, options)
      this.streamConn = conn?.newStream !== undefined ? conn : undefined
      stream.send(encodeFrame(encodeHello(this.transport.handler.groupId()), { maxFrameBytes: MAX_RAFT_FRAME_BYTES }))
      this.backoffMs = RAFT_DIAL_BACKOFF_MIN_MS
      this.transport.trackOutbound(stream, this.peer)
      return stream
    } catch (err) {
      this.backoffUntil = this.transport.clock.monotonic() + this.backoffMs
      this.backoffMs = Math.min(RAFT_DIAL_BACKOFF_MAX_MS, this.backoffMs * 2)
      throw new UnreachableError(`cannot open ${RAFT_PROTOCOL} to ${this.peer}: ${describeError(err).message}`, { cause: err })
    }
  }

  /** everything queued is lost: Raft hears the peer was unreachable (and a snapshot failed) */
  dropAll (): void {
    let snapshot = false
    for (const f of this.queue) if (f.snapshot === true) snapshot = true
    const hadAny = this.queue.length > 0
    this.queue.length = 0
    this.queuedBytes = 0
    if (snapshot) this.transport.handler.snapshotStatus(this.peer, false)
    if (hadAny || snapshot) this.transport.handler.unreachable(this.peer)
  }

  async close (): Promise<void> {
    this.controller.abort()
    this.queue.length = 0
    this.queuedBytes = 0
    const s = this.stream
    this.stream = undefined
    if (s !== undefined) {
      try { await s.close({ signal: AbortSignal.timeout(500) }) } catch (err) { s.abort(err as Error) }
    }
  }
}

export interface Libp2pRaftTransportInit {
  libp2p: RaftLibp2p
  selfId: string
  clock: Clock
  log: Logger
  handler: RaftTransportHandler
}

export class Libp2pRaftTransport implements RaftSender {
  readonly libp2p: RaftLibp2p
  readonly clock: Clock
  readonly log: Logger
  readonly handler: RaftTransportHandler
  private readonly selfId: string
  private readonly peers = new Map<string, PeerSender>()
  private readonly inbound = new Set<RaftStream>()
  /** the latest inbound stream of each peer: where a refusal to it goes */
  private readonly inboundOf = new Map<string, RaftStream>()
  private readonly outbound = new Set<RaftStream>()
  private readonly refusalLimit: PeerRateLimiter
  private started = false

  constructor (init: Libp2pRaftTransportInit) {
    this.libp2p = init.libp2p
    this.selfId = init.selfId
    this.clock = init.clock
    this.log = init.log
    this.handler = init.handler
    this.refusalLimit = new PeerRateLimiter({ ratePerS: RAFT_REFUSALS_PER_PEER_PER_S, burst: RAFT_REFUSAL_BURST, clock: init.clock })
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.libp2p.handle(RAFT_PROTOCOL, (stream, connection) => {
      void this.serve(stream as RaftStream, connection.remotePeer.toString(), connection as RaftConnection)
    }, { maxInboundStreams: MAX_RAFT_INBOUND_STREAMS, runOnLimitedConnection: true })
    this.started = true
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.libp2p.unhandle(RAFT_PROTOCOL).catch(() => {})
    const senders = [...this.peers.values()]
    this.peers.clear()
    await Promise.allSettled(senders.map(async s => { await s.close() }))
    for (const s of [...this.inbound, ...this.outbound]) s.abort(new UnreachableError('raft transport stopped'))
    this.inbound.clear()
    this.inboundOf.clear()
    this.outbound.clear()
  }

  /**
   * reads an outbound stream of ours: the remote writes nothing on it but refusals, which go to
   * the handler; reading also notices when the remote closes
   */
  trackOutbound (stream: RaftStream, peer: string): void {
    this.outbound.add(stream)
    void (async () => {
      const decoder = new FrameDecoder({ maxFrameBytes: MAX_RAFT_REFUSAL_FRAME_BYTES })
      let ignoring = false
      try {
        for await (const chunk of stream) {
          if (ignoring) continue
          try {
            for (const frame of decoder.push(chunk)) this.handler.refused?.(peer, decodeRefusalFrame(frame))
          } catch (err) {
            // nothing else travels this way: log it, keep the stream for our own writes, read no more of it
            this.log.error('raft stream to %s: ignoring what %s writes back: %s: %s', peer, peer, describeError(err).name, describeError(err).message)
            ignoring = true
          }
        }
      } catch {}
      this.outbound.delete(stream)
    })()
  }

  /**
   * answers `peer` with the refusal `make` resolves to (undefined: none), on the stream its
   * refused messages came on, unless `peer` already had its share of refusals of that `subject`:
   * false then, and `make` is not called (so a flood of refused messages costs no more than a
   * trickle). Each subject has its own share: refused voter messages never use up the refusals
   * that end a refused peer's waiting proposals and reads.
   */
  refuse (peer: string, make: () => Promise<RaftRefusal | undefined>, subject = ''): boolean {
    if (!this.started || !this.refusalLimit.take(`${peer}/${subject}`)) return false
    void make().then(refusal => {
      const stream = this.inboundOf.get(peer)
      if (refusal === undefined || stream === undefined || !this.started) return
      if (stream.status !== undefined && stream.status !== 'open') return
      // tiny and rate-limited: written without waiting for the stream to drain
      stream.send(encodeFrame(encodeRefusal(refusal), { maxFrameBytes: MAX_RAFT_REFUSAL_FRAME_BYTES }))
      this.log('refused %s\'s %s: %s', peer, refusal.subject, refusal.reason)
    }).catch(err => {
      this.log('could not send a refusal to %s: %s', peer, describeError(err).message)
    })
    return true
  }

  /** queues `messages` for `to`; never throws (an undeliverable batch is reported to Raft) */
  send (to: string, messages: Message[]): void {
    if (!this.started || to === this.selfId || messages.length === 0) return
    let sender = this.peers.get(to)
    if (sender === undefined) {
      sender = new PeerSender(to, this)
      this.peers.set(to, sender)
    }
    const frames: QueuedFrame[] = []
    const snaps: Message[] = []
    let batch: Uint8Array[] = []
    let batchBytes = PACK_OVERHEAD_BYTES
    const flush = (): void => {
      if (batch.length > 0) frames.push({ bytes: encodeFrame(packMessages(batch), { maxFrameBytes: MAX_RAFT_FRAME_BYTES }) })
      batch = []
      batchBytes = PACK_OVERHEAD_BYTES
    }
    for (const m of messages) {
      if (m.snapshot !== undefined) { snaps.push(m); continue }
      const bytes = encodeMessage(m)
      if (bytes.byteLength + PACK_OVERHEAD_BYTES > MAX_RAFT_FRAME_BYTES) {
        this.log.error('raft message to %s of %d bytes exceeds the frame limit: dropped', to, bytes.byteLength)
        continue
      }
      if (batchBytes + bytes.byteLength > MAX_RAFT_FRAME_BYTES) flush()
      batch.push(bytes)
      batchBytes += bytes.byteLength
    }
    flush()
    for (const m of snaps) {
      const chunks = chunkSnapshot(m.snapshot!, RAFT_SNAPSHOT_CHUNK_BYTES)
      chunks.forEach((c, i) => {
        frames.push({ bytes: encodeFrame(encodeSnapshotChunk(m, c), { maxFrameBytes: MAX_RAFT_FRAME_BYTES }), snapshot: true, snapshotDone: i === chunks.length - 1 })
      })
    }
    if (sender.inBackoff || !sender.enqueue(frames)) {
      if (snaps.length > 0) this.handler.snapshotStatus(to, false)
      this.handler.unreachable(to)
    }
  }

  /**
   * Reads a peer's stream of Raft frames. It listens for the stream's `message` events and steps
   * each frame's messages as the bytes arrive, rather than iterating the stream: libp2p's async
   * iterator is a generator over a pushable, and the security gate used to wrap it in another,
   * which put a few promise hand-offs on every inbound message (issue 4's fifteenth pass, in
   * alternating runs without them: sequential puts p50 -7%, 8-9% less CPU each).
   */
  private serve (stream: RaftStream, from: string, connection?: RaftConnection): void {
    if (!this.started) { stream.abort(new UnreachableError('raft transport stopped')); return }
    this.inbound.add(stream)
    this.inboundOf.set(from, stream)
    const decoder = new FrameDecoder({ maxFrameBytes: MAX_RAFT_FRAME_BYTES })
    const reassembler = new SnapshotReassembler()
    let groupId: string | undefined
    let done = false
    const finish = (): void => {
      done = true
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('remoteCloseWrite', onRemoteEnd)
      stream.removeEventListener('close', onClose)
      this.inbound.delete(stream)
      if (this.inboundOf.get(from) === stream) this.inboundOf.delete(from)
    }
    const fail = (e: Error): void => {
      finish()
      if (e instanceof MessageTooLargeError || e.name === 'InvalidMessageError' || e.name === 'UnsupportedVersionError' || e instanceof UnreachableError) {
        this.log.error('raft stream from %s refused: %s: %s', from, e.name, e.message)
        stream.abort(e)
      } else {
        this.log('raft stream from %s ended: %s', from, e.message)
      }
    }
    const onFrame = (frame: Uint8Array): void => {
      const f = decodeRaftFrame(frame, from, this.selfId)
      if (f.kind === 'hello') {
        const ours = this.handler.groupId()
        if (ours !== '' && f.groupId !== '' && f.groupId !== ours) {
          throw new UnreachableError(`peer ${from} belongs to raft group ${f.groupId}, not ours (${ours})`)
        }
        groupId = f.groupId
        // answers go back the way the peer came (a fresh connection after a heal)
        if (connection !== undefined) this.peers.get(from)?.preferConnection(connection)
        return
      }
      if (groupId === undefined) throw new UnreachableError(`raft stream from ${from} did not start with a hello`)
      if (f.kind === 'messages') {
        for (const m of f.messages) this.handler.receive(m, groupId)
      } else {
        const snapshot = reassembler.push(f.chunk)
        if (snapshot !== undefined) this.handler.receive({ ...f.message, snapshot }, groupId)
      }
    }
    const onMessage = (evt: RaftStreamEvents['message']): void => {
      if (done) return
      try {
        for (const frame of decoder.push(evt.data)) onFrame(frame)
      } catch (err) {
        fail(err as Error)
      }
    }
    const onRemoteEnd = (): void => {
      if (done) return
      try {
        decoder.end()
      } catch (err) {
        fail(err as Error)
        return
      }
      finish()
      void stream.close({ signal: AbortSignal.timeout(500) }).catch((err: Error) => { stream.abort(err) })
    }
    const onClose = (evt: RaftStreamEvents['close']): void => {
      if (!done) fail(evt.error ?? new Error('stream closed'))
    }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('remoteCloseWrite', onRemoteEnd)
    stream.addEventListener('close', onClose)
    // closed before we listened: no close event will come
    if (stream.status !== undefined && stream.status !== 'open') finish()
  }
}
