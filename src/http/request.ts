/** The AdminRequest given to handlers: lazy, size-limited body reading and JSON decoding. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError } from '../errors.ts'
import type { Schema } from './schema.ts'
import type { AdminRequest } from './types.ts'

/**
 * How a request's abort reaches what serves it without an EventTarget: `reason` once aborted;
 * `onAbort` calls `fn` once with it (never if already aborted: check `reason` first) and returns
 * its removal.
 */
export interface RequestAbortWatch {
  readonly reason: Error | undefined
  onAbort: (fn: (reason: Error) => void) => () => void
}

/**
 * Reads the whole body, refusing it as soon as it exceeds `limitBytes`: at once when
 * Content-Length says so, else when the bytes received pass the limit. Reading stops there;
 * the server then answers 413 and closes the connection instead of draining the rest. An abort
 * of the request ends the read with its reason.
 */
export async function readBody (req: IncomingMessage, limitBytes: number, abort?: RequestAbortWatch): Promise<Buffer> {
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > limitBytes) {
    throw new MessageTooLargeError(`request body of ${declared} bytes exceeds the limit of ${limitBytes} bytes`)
  }
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
      unwatch?.()
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limitBytes) {
        cleanup()
        req.pause()
        reject(new MessageTooLargeError(`request body exceeds the limit of ${limitBytes} bytes`))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => { cleanup(); resolve(Buffer.concat(chunks, size)) }
    const onError = (err: Error): void => { cleanup(); reject(new InvalidMessageError(`request body could not be read: ${err.message}`, { cause: err })) }
    const onClose = (): void => { if (!req.complete) { cleanup(); reject(new InvalidMessageError('request body ended early')) } }
    let unwatch: (() => void) | undefined
    if (abort?.reason !== undefined) { reject(abort.reason); return }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
    unwatch = abort?.onAbort(reason => { cleanup(); reject(reason) })
  })
}

export function parseJson (bytes: Buffer): unknown {
  const text = decodeUtf8(bytes)
  if (text.trim().length === 0) throw new InvalidMessageError('request body is empty; expected JSON')
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new InvalidMessageError(`request body is not valid JSON: ${(err as Error).message.slice(0, 120)}`)
  }
}

/** one decoder for every body: a fatal decoder is stateless between whole (non-streaming) calls */
const UTF8 = new TextDecoder('utf-8', { fatal: true })

function decodeUtf8 (bytes: Buffer): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw new InvalidMessageError('request body is not valid UTF-8')
  }
}

export class IncomingAdminRequest implements AdminRequest {
  readonly method: string
  readonly path: string
  readonly params: Record<string, string>
  readonly headers: IncomingHttpHeaders
  private readonly maxBodyBytes: number
  private readonly rawQuery: string
  private parsedQuery?: URLSearchParams
  private readonly abort: RequestAbortWatch & { readonly signal: AbortSignal }
  private body?: Promise<Buffer>

  /** `abort.signal` is `req.signal` (made on first use) */
  constructor (
    private readonly req: IncomingMessage,
    init: { path: string, query: string, params: Record<string, string>, abort: RequestAbortWatch & { readonly signal: AbortSignal }, maxBodyBytes: number }
  ) {
    this.method = req.method ?? 'GET'
    this.path = init.path
    this.params = init.params
    this.rawQuery = init.query
    this.headers = req.headers
    this.abort = init.abort
    this.maxBodyBytes = init.maxBodyBytes
  }

  /** parsed on first use */
  get query (): URLSearchParams {
    this.parsedQuery ??= new URLSearchParams(this.rawQuery)
    return this.parsedQuery
  }

  get signal (): AbortSignal {
    return this.abort.signal
  }

  /** whether the body was read to its end (false: the connection must not be reused) */
  get bodyComplete (): boolean {
    return this.req.complete
  }

  private async bytes (): Promise<Buffer> {
    this.body ??= readBody(this.req, this.maxBodyBytes, this.abort)
    return await this.body
  }

  async json<T> (schema?: Schema<T>): Promise<T> {
    const value = parseJson(await this.bytes())
    return schema === undefined ? value as T : schema.parse(value, 'body')
  }

  async text (): Promise<string> {
    return decodeUtf8(await this.bytes())
  }
}

/** an integer query parameter within [min, max], or `fallback` when absent */
export function queryInt (req: AdminRequest<unknown>, name: string, opts: { min: number, max: number, fallback: number }): number {
  const raw = req.query.get(name)
  if (raw === null) return opts.fallback
  const n = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < opts.min || n > opts.max) {
    throw new InvalidArgumentError(`query parameter ${name} must be an integer ${opts.min}-${opts.max}, got ${JSON.stringify(raw.slice(0, 40))}`)
  }
  return n
}
