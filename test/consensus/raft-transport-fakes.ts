/**
 * In-process fakes for the Raft transport's libp2p: stream pairs over memory pipes, a net whose
 * dialProtocol hands the other side's handler a stream, and a transport side that records what
 * it receives and the refusals it reads.
 */
import { Libp2pRaftTransport } from '../../src/consensus/raft-transport.ts'
import type { RaftLibp2p, RaftStream } from '../../src/consensus/raft-transport.ts'
import type { RaftRefusal } from '../../src/consensus/raft-wire.ts'
import type { Message } from '../../src/consensus/raft/index.ts'
import { systemClock } from '../../src/util/clock.ts'
import { componentLogger } from '../../src/util/logger.ts'

/** one direction of an in-memory stream pair: what `send` writes on one end is read on the other */
export class Pipe implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = []
  private waiting: (() => void) | undefined
  private ended = false

  push (b: Uint8Array): void { this.chunks.push(b); this.wake() }
  end (): void { this.ended = true; this.wake() }
  private wake (): void { const w = this.waiting; this.waiting = undefined; w?.() }

  async * [Symbol.asyncIterator] (): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift()
      if (c !== undefined) { yield c; continue }
      if (this.ended) return
      await new Promise<void>(resolve => { this.waiting = resolve })
    }
  }
}

/**
 * One end of an in-memory stream pair. As libp2p's streams: what the other end sends arrives as
 * `message` events (a tick later) once something listens for them, else it waits to be read by
 * iterating; the other end's close is `remoteCloseWrite`, this end's own close or abort is `close`.
 */
export class FakeStream implements RaftStream {
  status = 'open'
  peerOf!: FakeStream
  readonly incoming = new Pipe()
  private readonly listeners = new Map<string, Set<(evt: any) => void>>()

  addEventListener (type: string, fn: (evt: any) => void): void {
    let set = this.listeners.get(type)
    if (set === undefined) this.listeners.set(type, set = new Set())
    set.add(fn)
  }

  removeEventListener (type: string, fn: (evt: any) => void): void { this.listeners.get(type)?.delete(fn) }

  private emit (type: string, evt: object): void { for (const fn of [...this.listeners.get(type) ?? []]) fn(evt) }

  /** what the other end sent */
  deliver (data: Uint8Array): void {
    if ((this.listeners.get('message')?.size ?? 0) > 0) queueMicrotask(() => { this.emit('message', { data }) })
    else this.incoming.push(data)
  }

  /** the other end closed */
  remoteEnded (): void {
    this.incoming.end()
    queueMicrotask(() => { this.emit('remoteCloseWrite', {}) })
  }

  send (data: Uint8Array): boolean { if (this.status === 'open') this.peerOf.deliver(data); return true }
  async onDrain (): Promise<void> {}
  async close (): Promise<void> {
    if (this.status !== 'open') return
    this.status = 'closed'
    this.peerOf.remoteEnded()
    this.incoming.end()
    this.emit('close', {})
  }

  abort (): void { void this.close() }
  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> { return this.incoming[Symbol.asyncIterator]() }
}

/** libp2p for a set of in-process transports: dialProtocol hands the other side's handler a stream */
export class FakeNet {
  readonly handlers = new Map<string, (stream: any, connection: { remotePeer: { toString: () => string } }) => void | Promise<void>>()
  /** the last stream each dialled side got, by `from>to` */
  readonly accepted = new Map<string, FakeStream>()

  libp2p (self: string): RaftLibp2p {
    return {
      handle: async (_protocol, handler) => { this.handlers.set(self, handler) },
      unhandle: async () => { this.handlers.delete(self) },
      dialProtocol: async (peer: { toString: () => string }) => {
        const to = peer.toString()
        const handler = this.handlers.get(to)
        if (handler === undefined) throw new Error(`${to} does not listen`)
        const mine = new FakeStream()
        const theirs = new FakeStream()
        mine.peerOf = theirs
        theirs.peerOf = mine
        this.accepted.set(`${self}>${to}`, theirs)
        void handler(theirs, { remotePeer: { toString: () => self } })
        return mine
      }
    }
  }
}

export interface Side {
  transport: Libp2pRaftTransport
  received: Message[]
  refusals: Array<{ peer: string, refusal: RaftRefusal }>
}

// two real peer ids (the transport parses them)
export const A = '12D3KooWGC6TvWhfapngX6wvJHMYvKpDMXPb3ZnCZ6dMoaMtimQ5'
export const B = '12D3KooWLRPJAA5o6Z6ia3mzcvMyEwbBJiGSnkr35aZgbU9nDyyF'

export async function side (net: { libp2p: (self: string) => RaftLibp2p }, self: string, clock = systemClock): Promise<Side> {
  const s: Side = { received: [], refusals: [] } as unknown as Side
  s.transport = new Libp2pRaftTransport({
    libp2p: net.libp2p(self),
    selfId: self,
    clock,
    log: componentLogger('test:raft-transport'),
    handler: {
      receive: (m) => { s.received.push(m) },
      unreachable: () => {},
      snapshotStatus: () => {},
      groupId: () => 'g',
      refused: (peer, refusal) => { s.refusals.push({ peer, refusal }) }
    }
  })
  await s.transport.start()
  return s
}

export async function until (what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setImmediate(resolve))
  }
}
