/**
 * Runs `fn` once the I/O already waiting has been handled (Node: setImmediate, the check phase after
 * the poll phase), so work triggered by many sockets at once is handled together.
 */
export function runAfterIo (fn: () => void): void {
  setImmediate(fn)
}
