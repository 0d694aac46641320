/**
 * Node 20 lacks what libp2p v3 expects of a modern runtime. Installed once, at the Node entry
 * points (platform/node.ts, the CLI, the test setup), before libp2p is used.
 */
import { WebSocket as WsWebSocket } from 'ws'

if (typeof (Promise as any).withResolvers !== 'function') {
  (Promise as any).withResolvers = function withResolvers<T> () {
    let resolve!: (v: T) => void
    let reject!: (e: unknown) => void
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

/**
 * The `ws` WebSocket is also an EventEmitter: an 'error' emitted when no EventEmitter listener is
 * attached (a refused dial after libp2p dropped its listeners) would throw and kill the process.
 * This one always has one; listeners added with addEventListener still get every error.
 */
class NodeWebSocket extends WsWebSocket {
  constructor (...args: ConstructorParameters<typeof WsWebSocket>) {
    super(...args)
    this.on('error', () => {})
  }
}

// @libp2p/websockets v10 dials with the global WebSocket, which Node 20 only has behind a flag
if (typeof (globalThis as any).WebSocket !== 'function') {
  (globalThis as any).WebSocket = NodeWebSocket
}
