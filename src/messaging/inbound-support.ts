/**
 * Small pieces the inbound path (and the RPC client) share: span options from an envelope's
 * traceparent, handler deadlines without AbortSignal churn, the dedup stream of a direct message,
 * envelope signature checks, and the refusal sent for a sender stamped too far ahead.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { ClockSkewError, InvalidMessageError, TimeoutError } from '../errors.ts'
import { CLOCK_SKEW_RETRY_MARGIN_MS } from './constants.ts'
import type { AbortOptions } from '../util/abort.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'
import type { Labels, SpanKind, StartSpanOptions } from '../monitoring/types.ts'
import type { Envelope, EnvelopeKind } from './envelope.ts'

/**
 * label objects for the per-message counters, made once: counting a message allocates nothing.
 * Shared and handed to the metrics backend as they are: never change them.
 */
export const KIND_LABELS: Readonly<Record<EnvelopeKind | 'publication', Labels>> = {
  message: { kind: 'message' },
  request: { kind: 'request' },
  reply: { kind: 'reply' },
  ack: { kind: 'ack' },
  'error-reply': { kind: 'error-reply' },
  publication: { kind: 'publication' }
}
export const VERDICT_LABELS: Readonly<Record<'accept' | 'reject' | 'ignore', Labels>> = {
  accept: { result: 'accept' }, reject: { result: 'reject' }, ignore: { result: 'ignore' }
}
export const DUPLICATE_LABELS: Readonly<Labels> = { reason: 'duplicate' }

/** span options with the envelope's traceparent as parent ('' = none: a new trace) */
export function spanOptions (kind: SpanKind, traceparent: string, attributes?: Record<string, string | number | boolean>): StartSpanOptions {
  const options: StartSpanOptions = { kind }
  if (traceparent !== '') options.parent = traceparent
  if (attributes != null) options.attributes = attributes
  return options
}

/**
 * runs a handler with `ms` to finish: past it, TimeoutError (and the handler's signal aborts).
 * A plain timer, cleared when the handler is done, and the signal is only made if the handler
 * looks at it: no AbortSignal.timeout per message.
 */
export async function runWithDeadline<T> (clock: Clock, ms: number, run: (options: AbortOptions) => Promise<T>): Promise<T> {
  let controller: AbortController | undefined
  let timer: TimerHandle | undefined
  const options: AbortOptions = { get signal () { return (controller ??= new AbortController()).signal } }
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = clock.setTimeout(() => {
      const err = new TimeoutError(`handler did not finish within ${ms} ms`)
      controller?.abort(err)
      reject(err)
    }, ms)
  })
  try {
    return await Promise.race([run(options), deadline])
  } finally {
    clock.clearTimeout(timer)
  }
}

/** the ordering / dedup stream of a direct message: its sender and the channel it was sent on */
export function directStream (env: Envelope): string {
  return `${env.sender}|d|${env.target == null ? 'peer' : `${env.target.kind}:${env.target.id}`}`
}

/** whether `signature` is the sender's (its peer id carries its public key) over `signedBytes` */
export async function verifySignature (sender: string, signedBytes: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    const key = peerIdFromString(sender).publicKey
    if (key == null) return false
    return await key.verify(signedBytes, signature)
  } catch {
    return false
  }
}

/**
 * the refusal sent back for an envelope stamped too far ahead: ClockSkewError with
 * `details.retryAfterMs`, how long until real time has caught up with
 * its stamp (the stamp is fixed, so the same envelope is taken then)
 */
export function clockSkewRefusal (err: unknown): ClockSkewError {
  const d = (err as { details?: Record<string, unknown> }).details ?? {}
  const skewMs = typeof d.skewMs === 'number' ? d.skewMs : 0
  const maxSkewMs = typeof d.maxSkewMs === 'number' ? d.maxSkewMs : 0
  return new ClockSkewError(`refused: the sender's clock is ${Math.round(skewMs)} ms ahead of this peer's (max ${Math.round(maxSkewMs)} ms)`, {
    details: { retryAfterMs: Math.max(0, Math.ceil(skewMs - maxSkewMs)) + CLOCK_SKEW_RETRY_MARGIN_MS }
  })
}
