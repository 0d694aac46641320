import { raceSignal } from '../../util/abort.ts'

/**
 * raceSignal for a promise that is already running: when the signal has fired (before or during),
 * the promise's later rejection is observed here, so it never surfaces as an unhandled rejection.
 */
export async function raceRunning<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  promise.catch(() => {})
  return await raceSignal(promise, signal)
}
