/**
 * Fault injection for the clock: a peer started with AGENTMESH_CLOCK_SKEW_MS reads its wall clock
 * that many ms ahead (negative: behind); with AGENTMESH_CLOCK_SKEW_FILE it also re-reads the skew
 * from that file (one integer, ms) every CLOCK_SKEW_POLL_MS, so a test can step a running peer's
 * clock. Only `systemClock.now()` moves: monotonic time, timers and the host are untouched.
 * A bad value at start is a usage error; a bad value in the file later is logged and ignored.
 */
import { readFileSync } from 'node:fs'
import { InvalidArgumentError, describeError } from '../errors.ts'
import { setWallClockSkew, wallClockSkew } from '../util/clock.ts'
import { componentLogger } from '../util/logger.ts'
import { CLOCK_SKEW_POLL_MS, MAX_CLOCK_SKEW_FILE_BYTES } from './constants.ts'

const log = componentLogger('cli:clock-skew')
const INTEGER = /^\s*[+-]?\d{1,15}\s*$/

function parseSkew (text: string, where: string): number {
  if (!INTEGER.test(text)) throw new InvalidArgumentError(`${where}: expected an integer number of ms, got "${text.trim().slice(0, 40)}"`)
  const ms = Number(text.trim())
  try {
    setWallClockSkew(ms)
  } catch (err) {
    throw new InvalidArgumentError(`${where}: ${describeError(err).message}`)
  }
  return ms
}

function readSkewFile (path: string): string | undefined {
  try {
    const bytes = readFileSync(path)
    if (bytes.length > MAX_CLOCK_SKEW_FILE_BYTES) throw new InvalidArgumentError(`AGENTMESH_CLOCK_SKEW_FILE ${path}: larger than ${MAX_CLOCK_SKEW_FILE_BYTES} bytes`)
    return bytes.toString('utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/**
 * applies the skew the environment asks for and, with a skew file, keeps following it; returns
 * the function that stops following (a no-op without a file)
 */
export function applyClockSkew (env: Record<string, string | undefined> = process.env): () => void {
  const fixed = env.AGENTMESH_CLOCK_SKEW_MS
  if (fixed !== undefined && fixed !== '') {
    const ms = parseSkew(fixed, 'AGENTMESH_CLOCK_SKEW_MS')
    log('wall clock skewed by %d ms', ms)
  }
  const path = env.AGENTMESH_CLOCK_SKEW_FILE
  if (path === undefined || path === '') return () => {}
  const first = readSkewFile(path)
  if (first !== undefined && first.trim() !== '') parseSkew(first, `AGENTMESH_CLOCK_SKEW_FILE ${path}`)
  const timer = setInterval(() => {
    try {
      const text = readSkewFile(path)
      if (text === undefined || text.trim() === '') return
      const before = wallClockSkew()
      const ms = parseSkew(text, `AGENTMESH_CLOCK_SKEW_FILE ${path}`)
      if (ms !== before) log('wall clock stepped by %d ms (skew now %d ms)', ms - before, ms)
    } catch (err) {
      log.error('ignoring the clock skew file: %s', describeError(err).message)
    }
  }, CLOCK_SKEW_POLL_MS)
  timer.unref()
  return () => { clearInterval(timer) }
}
