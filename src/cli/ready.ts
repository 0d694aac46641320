/**
 * The one line a process prints on stdout when it is ready (docs/API.md section 2):
 *
 *     agentmesh ready {"peerId":"12D3Koo...","multiaddrs":["/ip4/..."],"http":"http://127.0.0.1:9091"}
 *
 * `agentmesh start` adds `"demo":"http://127.0.0.1:5173/"`. Tests and the `start` orchestrator read
 * it from child processes with `waitForReadyLine`.
 */
import { InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import { raceSignal, type AbortOptions } from '../util/abort.ts'
import { MAX_READY_LINE_BYTES, READY_PREFIX } from './constants.ts'

export interface ReadyInfo {
  peerId: string
  multiaddrs: string[]
  /** base URL of the HTTP admin API */
  http: string
  /** the demo page (`agentmesh start` only) */
  demo?: string
}

/** the ready line, without a trailing newline; always a single line */
export function formatReadyLine (info: ReadyInfo): string {
  const body: ReadyInfo = { peerId: info.peerId, multiaddrs: [...info.multiaddrs], http: info.http }
  if (info.demo !== undefined) body.demo = info.demo
  validateReadyInfo(body)
  return READY_PREFIX + JSON.stringify(body)
}

/**
 * `undefined` when `line` is not a ready line (other output); the ReadyInfo when it is; throws
 * InvalidMessageError when it starts like one but its JSON is malformed or of the wrong shape.
 */
export function parseReadyLine (line: string): ReadyInfo | undefined {
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line
  if (!trimmed.startsWith(READY_PREFIX)) return undefined
  if (trimmed.length > MAX_READY_LINE_BYTES) throw new MessageTooLargeError(`ready line longer than ${MAX_READY_LINE_BYTES} bytes`)
  let value: unknown
  try {
    value = JSON.parse(trimmed.slice(READY_PREFIX.length))
  } catch (err) {
    throw new InvalidMessageError('ready line is not followed by JSON', { cause: err })
  }
  return validateReadyInfo(value)
}

function isHttpUrl (s: unknown): s is string {
  if (typeof s !== 'string') return false
  try {
    const u = new URL(s)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    return false
  }
}

function validateReadyInfo (value: unknown): ReadyInfo {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidMessageError('ready info must be a JSON object')
  const v = value as Record<string, unknown>
  if (typeof v.peerId !== 'string' || v.peerId.length === 0) throw new InvalidMessageError('ready info: peerId must be a non-empty string')
  if (!Array.isArray(v.multiaddrs) || !v.multiaddrs.every(a => typeof a === 'string' && a.startsWith('/'))) {
    throw new InvalidMessageError('ready info: multiaddrs must be an array of multiaddr strings')
  }
  if (!isHttpUrl(v.http)) throw new InvalidMessageError('ready info: http must be an http(s) URL')
  if (v.demo !== undefined && !isHttpUrl(v.demo)) throw new InvalidMessageError('ready info: demo must be an http(s) URL')
  const out: ReadyInfo = { peerId: v.peerId, multiaddrs: v.multiaddrs as string[], http: v.http }
  if (v.demo !== undefined) out.demo = v.demo as string
  return out
}

/** the part of a Node Readable (a child's stdout) this needs */
export interface LineSource {
  on: (event: 'data' | 'end' | 'close' | 'error', listener: (arg?: any) => void) => unknown
  off: (event: 'data' | 'end' | 'close' | 'error', listener: (arg?: any) => void) => unknown
  resume?: () => unknown
}

export interface WaitForReadyOptions extends AbortOptions {
  /** called with each other line seen before the ready line (e.g. to forward it) */
  onLine?: (line: string) => void
}

/**
 * Reads lines from `source` until the ready line and resolves with it. Rejects when the source
 * ends first (InvalidMessageError, with the last lines seen), when a line starting like a ready
 * line is malformed, when a line exceeds MAX_READY_LINE_BYTES, or when `signal` fires. Afterwards
 * the listeners are removed and the stream is left flowing, so the child never blocks on a full
 * stdout pipe.
 */
export async function waitForReadyLine (source: LineSource, options: WaitForReadyOptions = {}): Promise<ReadyInfo> {
  let onData!: (chunk: unknown) => void
  let onEnd!: () => void
  let onError!: (err: unknown) => void
  const tail: string[] = []
  const done = new Promise<ReadyInfo>((resolve, reject) => {
    let pending = ''
    const decoder = new TextDecoder()
    onData = (chunk: unknown) => {
      pending += typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true })
      for (;;) {
        const nl = pending.indexOf('\n')
        if (nl === -1) break
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        try {
          const info = parseReadyLine(line)
          if (info !== undefined) { resolve(info); return }
        } catch (err) {
          reject(err); return
        }
        tail.push(line)
        if (tail.length > 5) tail.shift()
        options.onLine?.(line)
      }
      if (pending.length > MAX_READY_LINE_BYTES) {
        reject(new MessageTooLargeError(`output line longer than ${MAX_READY_LINE_BYTES} bytes before the ready line`))
      }
    }
    onEnd = () => {
      const last = tail.length > 0 ? `; last lines: ${JSON.stringify(tail.join(' | ').slice(-300))}` : ''
      reject(new InvalidMessageError(`output ended before the ready line${last}`))
    }
    onError = (err: unknown) => { reject(err) }
  })
  source.on('data', onData)
  source.on('end', onEnd)
  source.on('close', onEnd)
  source.on('error', onError)
  try {
    return await raceSignal(done, options.signal)
  } finally {
    source.off('data', onData)
    source.off('end', onEnd)
    source.off('close', onEnd)
    source.off('error', onError)
    source.resume?.()
  }
}
