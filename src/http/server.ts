/**
 * The HTTP admin server (docs/API.md section 3) on node:http: routes contributed by each
 * component, JSON in and out, errors as `{"error":{"name","message"}}` with `statusOf(err)`,
 * Server-Sent Events, and a close() that ends streams and in-flight requests.
 * Nothing a client sends can stop it from serving the next request.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { isIP, type AddressInfo, type Socket } from 'node:net'
import {
  AbortError, AgentMeshError, CapacityError, ConflictError, InvalidArgumentError, InvalidMessageError,
  MessageTooLargeError, NotFoundError, NotStartedError, TimeoutError, describeError, statusOf
} from '../errors.ts'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { deferred, type AbortOptions, raceSignal } from '../util/abort.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import {
  CLOSE_GRACE_MS, HANDLER_TIMEOUT_MS, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_JSON_BODY_BYTES,
  MAX_SSE_STREAMS, MAX_URL_CHARS, REQUEST_TIMEOUT_MS, SSE_HEARTBEAT_INTERVAL_MS
} from './constants.ts'
import { IncomingAdminRequest, type RequestAbortWatch } from './request.ts'
import { Router, type HttpMethod, type Route } from './router.ts'
import { openSse, type SseStream } from './sse.ts'
import type { AdminResponse } from './types.ts'

/** 405: the path exists, the method does not (carries the Allow list) */
export class MethodNotAllowedError extends AgentMeshError {
  static override readonly status: number = 405
  constructor (message: string, readonly allowed: HttpMethod[]) {
    super(message)
    this.name = 'MethodNotAllowedError'
  }
}

export interface AdminServerOptions {
  clock?: Clock
  log?: Logger
  /** default MAX_JSON_BODY_BYTES */
  maxBodyBytes?: number
  /** default MAX_SSE_STREAMS */
  maxSseStreams?: number
  /** default SSE_HEARTBEAT_INTERVAL_MS */
  sseHeartbeatMs?: number
  /** default CLOSE_GRACE_MS */
  closeGraceMs?: number
  /** a request not answered by then gets 504 TimeoutError (default HANDLER_TIMEOUT_MS) */
  handlerTimeoutMs?: number
}

export interface ListenOptions {
  host: string
  /** 0 picks a free port */
  port: number
}

const JSON_TYPE = 'application/json; charset=utf-8'
const TEXT_TYPE = 'text/plain; charset=utf-8'

/** `http://host:port`; an unspecified listen address (0.0.0.0, ::) becomes loopback so the URL can be dialled */
function urlFor (host: string, port: number): string {
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  return `http://${isIP(h) === 6 ? `[${h}]` : h}:${port}`
}

export class AdminServer {
  private readonly router: Router
  private readonly server: Server
  private readonly clock: Clock
  private readonly log: Logger
  private readonly maxBodyBytes: number
  private readonly maxSseStreams: number
  private readonly sseHeartbeatMs: number
  private readonly closeGraceMs: number
  private readonly handlerTimeoutMs: number
  private readonly inflight = new Set<RequestAbort>()
  private readonly streams = new Set<SseStream>()
  /** open sockets and how many requests each has in flight (idle ones are dropped on close) */
  private readonly sockets = new Map<Socket, number>()
  private listening?: string
  private closing?: Promise<void>

  constructor (routes: Route[] = [], options: AdminServerOptions = {}) {
    this.router = new Router(routes)
    this.clock = options.clock ?? systemClock
    this.log = options.log ?? componentLogger('http')
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_JSON_BODY_BYTES
    this.maxSseStreams = options.maxSseStreams ?? MAX_SSE_STREAMS
    this.sseHeartbeatMs = options.sseHeartbeatMs ?? SSE_HEARTBEAT_INTERVAL_MS
    this.closeGraceMs = options.closeGraceMs ?? CLOSE_GRACE_MS
    this.handlerTimeoutMs = options.handlerTimeoutMs ?? HANDLER_TIMEOUT_MS
    this.server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS })
    this.server.maxConnections = MAX_CONNECTIONS
    this.server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, 0)
      socket.once('close', () => { this.sockets.delete(socket) })
    })
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => { void this.handle(req, res) })
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => { this.onClientError(err, socket) })
  }

  /** adds routes (before or after listen); throws InvalidArgumentError for bad or duplicate ones */
  addRoutes (routes: Route[]): void {
    this.router.add(routes)
  }

  get routes (): Route[] {
    return this.router.routes
  }

  /** the base URL once listening */
  get url (): string | undefined {
    return this.listening
  }

  /** starts listening; resolves with the base URL (`http://127.0.0.1:54321`) */
  async listen (where: ListenOptions, options: AbortOptions = {}): Promise<string> {
    if (this.closing !== undefined) throw new NotStartedError('admin server is closed')
    if (this.listening !== undefined) throw new ConflictError(`admin server already listening on ${this.listening}`)
    if (!Number.isInteger(where.port) || where.port < 0 || where.port > 65535) {
      throw new InvalidArgumentError(`HTTP port must be an integer 0-65535, got ${where.port}`)
    }
    const ready = deferred<void>()
    const onError = (err: Error & { code?: string }): void => {
      const what = `${where.host}:${where.port}`
      if (err.code === 'EADDRINUSE') ready.reject(new ConflictError(`cannot listen on ${what}: address already in use`, { cause: err }))
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') ready.reject(new InvalidArgumentError(`cannot listen on ${what}: no such local address`, { cause: err }))
      else ready.reject(err)
    }
    this.server.once('error', onError)
    this.server.listen(where.port, where.host, () => { ready.resolve() })
    try {
      await raceSignal(ready.promise, options.signal)
    } catch (err) {
      this.server.close()
      throw err
    } finally {
      this.server.off('error', onError)
    }
    const port = (this.server.address() as AddressInfo).port
    this.listening = urlFor(where.host, port)
    this.server.on('error', (err) => { this.log.error('admin server error: %e', err) })
    return this.listening
  }

  /**
   * Stops accepting connections, ends every SSE stream, aborts in-flight requests (their handlers
   * see `req.signal` fire), and after `closeGraceMs` destroys whatever is still open. Idempotent.
   */
  async close (): Promise<void> {
    this.closing ??= this.closeNow()
    await this.closing
  }

  private async closeNow (): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
    for (const stream of [...this.streams]) stream.close()
    for (const ra of [...this.inflight]) ra.abort(new NotStartedError('admin server is stopping'))
    // idle keep-alive sockets, and ones that connected but sent nothing yet
    for (const [socket, busy] of this.sockets) if (busy === 0) socket.destroy()
    const grace = this.clock.setTimeout(() => { this.server.closeAllConnections() }, this.closeGraceMs)
    try {
      await closed
    } finally {
      this.clock.clearTimeout(grace)
      this.listening = undefined
    }
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new RequestAbort()
    this.inflight.add(abort)
    const socket = req.socket
    this.sockets.set(socket, (this.sockets.get(socket) ?? 0) + 1)
    let deadline: TimerHandle | undefined
    res.on('close', () => {
      this.inflight.delete(abort)
      if (deadline !== undefined) this.clock.clearTimeout(deadline)
      if (!res.writableFinished) abort.abort(new AbortError('client disconnected'))
      const busy = Math.max(0, (this.sockets.get(socket) ?? 1) - 1)
      if (this.sockets.has(socket)) this.sockets.set(socket, busy)
      // while stopping, a socket whose last response is done is ended (after its bytes flush)
      if (this.closing !== undefined && busy === 0) socket.end()
    })
    if (this.closing !== undefined) abort.abort(new NotStartedError('admin server is stopping'))
    const url = req.url ?? '/'
    const method = req.method ?? 'GET'
    let request: IncomingAdminRequest | undefined
    try {
      if (abort.aborted) throw new NotStartedError('admin server is stopping')
      if (url.length > MAX_URL_CHARS) throw new InvalidMessageError(`URL longer than ${MAX_URL_CHARS} characters`)
      if (!url.startsWith('/')) throw new InvalidMessageError('request target must be a path')
      const q = url.indexOf('?')
      const path = q === -1 ? url : url.slice(0, q)
      const match = this.router.match(method, path)
      if (match.kind === 'not-found') throw new NotFoundError(`no route for ${method} ${path.slice(0, 200)}`)
      if (match.kind === 'method-not-allowed') {
        throw new MethodNotAllowedError(`${method} is not allowed on ${path.slice(0, 200)}; allowed: ${match.allowed.join(', ')}`, match.allowed)
      }
      request = new IncomingAdminRequest(req, {
        path, query: q === -1 ? '' : url.slice(q + 1), params: match.params, abort, maxBodyBytes: this.maxBodyBytes
      })
      deadline = this.clock.setTimeout(() => {
        abort.abort(new TimeoutError(`request not answered within ${this.handlerTimeoutMs} ms`))
      }, this.handlerTimeoutMs)
      const response = await this.untilAborted(match.route, request, abort)
      this.clock.clearTimeout(deadline)
      this.respond(res, response, abort)
    } catch (err) {
      this.respondError(req, res, err, request)
    }
  }

  /**
   * The handler's response, or the abort reason (TimeoutError, NotStartedError on close, AbortError
   * on disconnect) as soon as the request is aborted, even if the handler ignores its signal.
   * The abort ends this wait directly (no listener on the request's signal per request).
   */
  private async untilAborted (route: Route, request: IncomingAdminRequest, abort: RequestAbort): Promise<AdminResponse> {
    const running = (async () => await route.handler(request))()
    try {
      return await Promise.race([running, abort.rejected()])
    } finally {
      // a handler that outlives its request must not leave an unhandled rejection behind
      running.catch((err: unknown) => {
        if (abort.aborted) this.log('%s %s: handler failed after the request ended: %s', request.method, request.path, describeError(err).message)
      })
    }
  }

  private respond (res: ServerResponse, response: AdminResponse, abort: RequestAbort): void {
    if (res.headersSent || res.destroyed) return
    if (this.closing !== undefined) res.setHeader('Connection', 'close')
    const bodies = (['json', 'text', 'sse'] as const).filter(k => response[k] !== undefined)
    // a handler bug, not the client's: 500
    if (bodies.length > 1) throw new AgentMeshError(`handler returned more than one body (${bodies.join(', ')})`)
    for (const [k, val] of Object.entries(response.headers ?? {})) res.setHeader(k, val)
    if (response.sse !== undefined) { this.startSse(res, response.sse, abort); return }
    if (response.json !== undefined) {
      const body = JSON.stringify(response.json)
      if (body === undefined) throw new AgentMeshError('handler returned a body that is not JSON-serialisable')
      this.sendBody(res, response.status ?? 200, JSON_TYPE, body)
    } else if (response.text !== undefined) {
      this.sendBody(res, response.status ?? 200, response.contentType ?? TEXT_TYPE, response.text)
    } else {
      res.writeHead(response.status ?? 204).end()
    }
  }

  private sendBody (res: ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store'
    }).end(body)
  }

  private startSse (res: ServerResponse, handler: NonNullable<AdminResponse['sse']>, abort: RequestAbort): void {
    if (this.streams.size >= this.maxSseStreams) throw new CapacityError(`too many event streams open (limit ${this.maxSseStreams})`)
    const stream = openSse(res, { clock: this.clock, heartbeatMs: this.sseHeartbeatMs, log: this.log })
    this.streams.add(stream)
    stream.onClose(() => { this.streams.delete(stream) })
    // the stream is the response now: a client disconnect closes it, not the request signal
    this.inflight.delete(abort)
    try {
      const cleanup = handler(stream)
      if (typeof cleanup === 'function') stream.onClose(cleanup)
    } catch (err) {
      this.log.error('SSE handler failed: %e', err)
      stream.close()
    }
  }

  private respondError (req: IncomingMessage, res: ServerResponse, err: unknown, request?: IncomingAdminRequest): void {
    const status = statusOf(err)
    const { name, message } = describeError(err)
    const line = `${req.method ?? '?'} ${(req.url ?? '').slice(0, 200)} -> ${status} ${name}: ${message}`
    if (status >= 500) this.log.error(line)
    else this.log(line)
    if (res.headersSent || res.destroyed) return
    try {
      if (err instanceof MethodNotAllowedError) res.setHeader('Allow', err.allowed.join(', '))
      // a body we stopped reading (too large, bad) must not be parsed as the next request
      if (this.closing !== undefined || err instanceof MessageTooLargeError || (request !== undefined && !request.bodyComplete) || (request === undefined && !req.complete)) {
        res.setHeader('Connection', 'close')
      }
      this.sendBody(res, status, JSON_TYPE, JSON.stringify({ error: { name, message } }))
    } catch (sendErr) {
      this.log.error('could not send the error response: %e', sendErr)
      res.destroy()
    }
  }

  private onClientError (err: Error & { code?: string }, socket: Socket): void {
    this.log('malformed HTTP from a client: %s', err.code ?? err.message)
    if (!socket.writable || err.code === 'ECONNRESET') { socket.destroy(); return }
    const [status, reason, name] = err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'MessageTooLargeError']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'TimeoutError']
        : [400, 'Bad Request', 'InvalidMessageError']
    const body = JSON.stringify({ error: { name, message: `malformed HTTP request (${err.code ?? 'parse error'})` } })
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
}

/**
 * One request's abort: rejects the server's wait for the handler, stops the body read and fires
 * the signal handlers see (`req.signal`). Nothing here is an EventTarget until a handler reads
 * `req.signal`: an AbortSignal made per request, with a listener added and removed on it for the
 * body and another for the KV call, cost ~5% of the CPU of a sequential get and ~2% of a put with
 * 16 in flight (issue 4's fifteenth pass), so the body read registers a plain callback instead.
 */
class RequestAbort implements RequestAbortWatch {
  private controller: AbortController | undefined
  private why: Error | undefined
  private listeners: Array<(reason: Error) => void> | undefined
  private reject: ((err: Error) => void) | undefined
  private waiting: Promise<never> | undefined

  get aborted (): boolean { return this.why !== undefined }

  get reason (): Error | undefined { return this.why }

  /** the handlers' `req.signal`, made on first use (already aborted if the request was) */
  get signal (): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.why !== undefined) this.controller.abort(this.why)
    }
    return this.controller.signal
  }

  onAbort (fn: (reason: Error) => void): () => void {
    if (this.why !== undefined) return () => {}
    const list = this.listeners ??= []
    list.push(fn)
    return () => {
      const k = list.indexOf(fn)
      if (k !== -1) list.splice(k, 1)
    }
  }

  abort (reason: Error): void {
    if (this.why !== undefined) return
    this.why = reason
    this.controller?.abort(reason)
    for (const fn of this.listeners?.splice(0) ?? []) fn(reason)
    this.reject?.(reason)
  }

  /** a promise that rejects with the reason once aborted (never settles otherwise) */
  rejected (): Promise<never> {
    if (this.waiting === undefined) {
      this.waiting = this.why !== undefined
        ? Promise.reject(this.why)
        : new Promise<never>((_resolve, reject) => { this.reject = reject })
      this.waiting.catch(() => {})
    }
    return this.waiting
  }
}

/** a server over `routes`; call `listen()` to start it and `close()` to stop it */
export function createAdminServer (routes: Route[] = [], options: AdminServerOptions = {}): AdminServer {
  return new AdminServer(routes, options)
}
