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

/**
 * Every chunk the stream delivers spends the peer's byte budget; past it the stream is aborted and
 * the chunk dropped. It watches the stream's `message` events (wrapping `dispatchEvent`, as
 * libp2p's own metrics do, so no listener is added: a stream hands its buffered bytes to the first
 * `message` listener), which counts the bytes however the handler reads them, by iterating or by
 * listening, and adds no step between the stream and its reader.
 */
function meterStream (stream: Stream, peer: string, protocol: string, guard: FloodGuard): void {
  const target = stream as unknown as { dispatchEvent: (evt: Event & { data?: { byteLength: number } }) => boolean }
  const dispatch = target.dispatchEvent.bind(stream)
  target.dispatchEvent = (evt) => {
    if (evt.type === 'message' && evt.data !== undefined) {
      try {
        guard.admitBytes(peer, protocol, evt.data.byteLength)
      } catch (err) {
        stream.abort(err as Error)
        return false
      }
    }
    return dispatch(evt)
  }
}
