/**
 * Per-peer rate limits on our inbound stream protocols (RPC, Raft, CRDT sync): wraps
 * `libp2p.handle` so that every handler registered afterwards sees only streams the peer was
 * allowed to open, and only as many bytes per second as it is allowed to send. Past its rate a
 * stream is aborted with a CapacityError (the FloodGuard counts, penalises and logs it).
 * Install it before the components register their handlers; libp2p's own protocols (identify,
 * ping, kad-dht, gossipsub) are registered earlier and keep their own limits.
 */
import type { Connection, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import type { FloodGuard } from './flood.ts'

export interface HandlerHost {
  handle: (protocol: string | string[], handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
}

/** our protocols: /agentmesh/... */
const OURS = '/agentmesh/'

export function guardStreams (libp2p: HandlerHost, guard: FloodGuard): () => void {
  const original = libp2p.handle
  const guarded: HandlerHost['handle'] = async (protocol, handler, options) => {
    const name = Array.isArray(protocol) ? protocol[0] : protocol
    if (!String(name).startsWith(OURS)) return await original.call(libp2p, protocol, handler, options)
    return await original.call(libp2p, protocol, (stream: Stream, connection: Connection) => {
      const peer = connection.remotePeer.toString()
      try {
        guard.admitStream(peer, name)
      } catch (err) {
        stream.abort(err as Error)
        return
      }
      meterStream(stream, peer, name, guard)
      return handler(stream, connection)
    }, options)
  }
  libp2p.handle = guarded
  return () => { if (libp2p.handle === guarded) libp2p.handle = original }
}

/** every chunk read from the stream spends the peer's byte budget; past it the stream is aborted */
function meterStream (stream: Stream, peer: string, protocol: string, guard: FloodGuard): void {
  const source = stream as unknown as { [Symbol.asyncIterator]: () => AsyncIterator<{ byteLength: number }> }
  const iterate = source[Symbol.asyncIterator].bind(stream)
  Object.defineProperty(stream, Symbol.asyncIterator, {
    configurable: true,
    value: async function * meteredChunks () {
      const it = iterate()
      for (;;) {
        const next = await it.next()
        if (next.done === true) return
        try {
          guard.admitBytes(peer, protocol, next.value.byteLength)
        } catch (err) {
          stream.abort(err as Error)
          throw err
        }
        yield next.value
      }
    }
  })
}
