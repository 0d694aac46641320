/** Shared helpers for the admin server tests. */
import type { Logger } from '../../src/util/logger.ts'

/** a Logger that records its lines (debug and error) */
export function captureLogger (): Logger & { lines: string[], errors: string[] } {
  const lines: string[] = []
  const errors: string[] = []
  const fmt = (f: unknown, args: unknown[]): string => [f, ...args].map(String).join(' ')
  const log = ((f: unknown, ...args: unknown[]) => { lines.push(fmt(f, args)) }) as Logger & { lines: string[], errors: string[] }
  log.error = (f: unknown, ...args: unknown[]) => { errors.push(fmt(f, args)) }
  log.trace = () => {}
  log.enabled = true
  ;(log as any).newScope = () => log
  log.lines = lines
  log.errors = errors
  return log
}

/** reads an SSE body until `done(text)` holds; returns all text read so far */
export async function readUntil (reader: ReadableStreamDefaultReader<Uint8Array>, done: (text: string) => boolean, soFar = ''): Promise<string> {
  const decoder = new TextDecoder()
  let text = soFar
  while (!done(text)) {
    const { value, done: ended } = await reader.read()
    if (ended) throw new Error(`stream ended before the condition held; got ${JSON.stringify(text)}`)
    text += decoder.decode(value, { stream: true })
  }
  return text
}

/** polls `check` until it holds or `ms` pass */
export async function eventually (check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
