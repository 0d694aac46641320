/**
 * Server-Sent Events on a Node ServerResponse: `event:`/`id:`/`data:` frames, a heartbeat comment
 * while idle, and a clean end on close() (server stop), on client disconnect, or when the client
 * falls too far behind (slow consumers are dropped, never buffered without bound).
 */
import type { ServerResponse } from 'node:http'
import { systemClock, type Clock, type TimerHandle } from '../util/clock.ts'
import { InvalidArgumentError } from '../errors.ts'
import { componentLogger, type Logger } from '../util/logger.ts'
import { MAX_SSE_BUFFERED_BYTES, SSE_HEARTBEAT_INTERVAL_MS, SSE_RETRY_MS } from './constants.ts'

export interface SseOptions {
  clock?: Clock
  /** a `:` comment line is written this often (default SSE_HEARTBEAT_INTERVAL_MS) */
  heartbeatMs?: number
  /** the reconnect delay announced to the client (default SSE_RETRY_MS) */
  retryMs?: number
  /** bytes queued for a slow client before it is disconnected (default MAX_SSE_BUFFERED_BYTES) */
  maxBufferedBytes?: number
  log?: Logger
}

export interface SseSendOptions {
  /** the `event:` name (default: none, i.e. "message" for EventSource) */
  event?: string
  /** the `id:` field, echoed by EventSource as Last-Event-ID on reconnect */
  id?: string
}

export interface SseStream {
  /** writes one event; `data` is JSON-encoded unless it is a string. False once the stream is closed. */
  send: (data: unknown, options?: SseSendOptions) => boolean
  /** ends the stream; idempotent */
  close: () => void
  readonly closed: boolean
  /** aborted when the stream closes, whoever closed it */
  readonly signal: AbortSignal
  /** runs `fn` once when the stream closes (immediately if it already has) */
  onClose: (fn: () => void) => void
}

const FIELD_VALUE = /^[^\r\n]*$/

/** starts an event stream on `res` (writes the headers now) */
export function openSse (res: ServerResponse, options: SseOptions = {}): SseStream {
  const clock = options.clock ?? systemClock
  const log = options.log ?? componentLogger('http')
  const maxBuffered = options.maxBufferedBytes ?? MAX_SSE_BUFFERED_BYTES
  const controller = new AbortController()
  const closeListeners: Array<() => void> = []
  let heartbeat: TimerHandle | undefined

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no'
  })
  res.write(`retry: ${options.retryMs ?? SSE_RETRY_MS}\n\n`)

  const finish = (): void => {
    if (controller.signal.aborted) return
    clock.clearInterval(heartbeat)
    res.off('close', finish)
    controller.abort()
    for (const fn of closeListeners.splice(0)) {
      try { fn() } catch (err) { log.error('SSE close listener failed: %e', err) }
    }
  }

  const write = (frame: string): boolean => {
    if (controller.signal.aborted || res.destroyed || res.writableEnded) { finish(); return false }
    if (res.writableLength > maxBuffered) {
      log('SSE client is %d bytes behind (limit %d): disconnecting it', res.writableLength, maxBuffered)
      stream.close()
      return false
    }
    res.write(frame)
    return true
  }

  const stream: SseStream = {
    send (data, opts = {}) {
      let frame = ''
      if (opts.event !== undefined) {
        if (!FIELD_VALUE.test(opts.event) || opts.event.length === 0) throw new InvalidArgumentError('SSE event name must be one non-empty line')
        frame += `event: ${opts.event}\n`
      }
      if (opts.id !== undefined) {
        if (!FIELD_VALUE.test(opts.id) || opts.id.includes('\0')) throw new InvalidArgumentError('SSE id must be one line without NUL')
        frame += `id: ${opts.id}\n`
      }
      const text = typeof data === 'string' ? data : JSON.stringify(data)
      if (text === undefined) throw new InvalidArgumentError('SSE data must be JSON-serialisable')
      for (const line of text.split(/\r\n|\r|\n/)) frame += `data: ${line}\n`
      return write(frame + '\n')
    },
    close () {
      if (controller.signal.aborted) return
      if (!res.writableEnded && !res.destroyed) res.end()
      finish()
    },
    get closed () { return controller.signal.aborted },
    signal: controller.signal,
    onClose (fn) {
      if (controller.signal.aborted) fn()
      else closeListeners.push(fn)
    }
  }

  res.on('close', finish)
  heartbeat = clock.setInterval(() => { write(':\n\n') }, options.heartbeatMs ?? SSE_HEARTBEAT_INTERVAL_MS)
  return stream
}
