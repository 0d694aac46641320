import { setMaxListeners } from 'main-event'
import { AbortError, TimeoutError } from '../errors.ts'
import { systemClock, type Clock, type TimerHandle } from './clock.ts'

export interface AbortOptions {
  signal?: AbortSignal
}

/** throws our AbortError/TimeoutError when the signal has fired */
export function throwIfAborted (signal?: AbortSignal): void {
  if (signal?.aborted === true) throw abortReason(signal)
}

/** the typed error for an aborted signal: TimeoutError for AbortSignal.timeout, else AbortError */
export function abortReason (signal: AbortSignal): Error {
  const r = signal.reason
  if (r instanceof Error && (r.name === 'TimeoutError' || r.name === 'AbortError') && !(r instanceof DOMException)) return r
  if (r instanceof DOMException && r.name === 'TimeoutError') return new TimeoutError('operation timed out')
  if (r instanceof Error && r.name === 'TimeoutError') return new TimeoutError(r.message)
  return new AbortError('operation aborted')
}

/** settles with `promise`, or rejects with the typed reason as soon as `signal` fires */
export async function raceSignal<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal == null) return await promise
  if (signal.aborted) {
    // the caller stops waiting, but the promise still settles: never leave its rejection unhandled
    promise.catch(() => {})
    throw abortReason(signal)
  }
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        onAbort = () => { reject(abortReason(signal)) }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    ])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/**
 * A signal that fires when any input fires, or after `timeoutMs` (if given) with a TimeoutError.
 *
 * Not `AbortSignal.timeout()`: Node 20 holds that signal (and an `AbortSignal.any()` built on it)
 * only weakly, so when nothing else references it, it can be garbage-collected before it fires and
 * an await on it never ends. Here the deadline's timer holds its controller strongly until it fires.
 */
export function combineSignals (signals: Array<AbortSignal | undefined>, timeoutMs?: number): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s != null)
  if (timeoutMs != null) {
    const deadline = new AbortController()
    const timer = setTimeout(() => { deadline.abort(new TimeoutError(`deadline of ${timeoutMs} ms passed`)) }, timeoutMs)
    ;(timer as { unref?: () => void }).unref?.()
    list.push(deadline.signal)
  }
  if (list.length === 0) return new AbortController().signal
  if (list.length === 1) return list[0]
  return AbortSignal.any(list)
}

/** a promise whose resolve/reject are handed out (Promise.withResolvers without Node 22) */
export function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void } {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/**
 * Like combineSignals, with cleanup: a signal that fires when any input fires or a deadline
 * passes, held strongly by its inputs' listeners and its timer. Call dispose() when the operation
 * is over so long-lived inputs don't collect listeners.
 */
export interface LinkedSignal {
  signal: AbortSignal
  /** removes the listeners and the timer (the signal stays as it is) */
  dispose: () => void
}

export function linkSignals (inputs: Array<AbortSignal | undefined>, timeoutMs?: number, clock: Clock = systemClock): LinkedSignal {
  const controller = new AbortController()
  setMaxListeners(Infinity, controller.signal)
  const listeners: Array<[AbortSignal, () => void]> = []
  let timer: TimerHandle | undefined
  const dispose = (): void => {
    for (const [s, l] of listeners) s.removeEventListener('abort', l)
    listeners.length = 0
    clock.clearTimeout(timer)
    timer = undefined
  }
  for (const input of inputs) {
    if (input == null) continue
    if (input.aborted) {
      controller.abort(input.reason)
      dispose()
      return { signal: controller.signal, dispose }
    }
    const onAbort = (): void => { controller.abort(input.reason); dispose() }
    input.addEventListener('abort', onAbort, { once: true })
    listeners.push([input, onAbort])
  }
  if (timeoutMs != null) {
    timer = clock.setTimeout(() => {
      controller.abort(new TimeoutError(`deadline of ${timeoutMs} ms passed`))
      dispose()
    }, timeoutMs)
  }
  return { signal: controller.signal, dispose }
}
