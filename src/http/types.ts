/** What route handlers see and return. */
import type { IncomingHttpHeaders } from 'node:http'
import type { Schema } from './schema.ts'
import type { SseStream } from './sse.ts'

export interface AdminRequest<P = Record<string, string>> {
  readonly method: string
  /** the path as sent (percent-encoded), without the query */
  readonly path: string
  /** decoded path parameters */
  readonly params: P
  readonly query: URLSearchParams
  readonly headers: IncomingHttpHeaders
  /** aborted when the client disconnects or the server closes */
  readonly signal: AbortSignal
  /**
   * The body parsed as JSON (read at most once, up to the size limit) and, given a schema,
   * validated. MessageTooLargeError (413) / InvalidMessageError (400) otherwise.
   */
  json<T> (schema: Schema<T>): Promise<T>
  json (): Promise<unknown>
  /** the body as UTF-8 text, up to the size limit */
  text: () => Promise<string>
}

/**
 * Called once the event stream is open. Subscribe here and return the unsubscribe function
 * (called when the stream closes: client gone, server stopping, or `stream.close()`).
 */
export type SseHandler = (stream: SseStream) => (() => void) | undefined | void

export interface AdminResponse {
  /** default 200 (201 etc. as needed); 204 when there is no body */
  status?: number
  headers?: Record<string, string>
  /** serialised as JSON */
  json?: unknown
  /** sent as-is, with `contentType` (default text/plain; charset=utf-8) */
  text?: string
  contentType?: string
  /** turn the response into a Server-Sent Events stream */
  sse?: SseHandler
}
