/**
 * A signal that fires when any input fires or a deadline passes, held strongly by its inputs'
 * listeners and its timer. Node 20's AbortSignal.any() keeps composite signals only weakly, so a
 * composite that nothing else references can be garbage-collected before it fires, leaving an
 * await on it pending forever; this one cannot. Always dispose() when done with it.
 */
import { setMaxListeners } from 'main-event'
import { TimeoutError } from '../errors.ts'
import { systemClock } from '../util/clock.ts'
import type { Clock, TimerHandle } from '../util/clock.ts'

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
