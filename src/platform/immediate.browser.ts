/**
 * Runs `fn` once the events already queued have been handled (browsers have no setImmediate: a
 * MessageChannel message is a task of its own, queued behind them, without setTimeout's clamping).
 */
const channel = new MessageChannel()
const queue: Array<() => void> = []
channel.port1.onmessage = () => {
  const fns = queue.splice(0, queue.length)
  for (const fn of fns) fn()
}

export function runAfterIo (fn: () => void): void {
  queue.push(fn)
  if (queue.length === 1) channel.port2.postMessage(null)
}
