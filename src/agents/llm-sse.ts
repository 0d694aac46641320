/**
 * Server-Sent Events as chat-completion streams use them: `data: <json>` lines, events separated
 * by a blank line, `data: [DONE]` at the end. Bounded: a line longer than the limit is refused.
 */
import { MessageTooLargeError } from '../errors.ts'
import { LLM_MAX_SSE_LINE_BYTES } from './constants.ts'

/** splits a byte stream into the `data` payloads of its events */
export class SseDataDecoder {
  private readonly decoder = new TextDecoder()
  private readonly maxLineChars: number
  private buffer = ''
  private data: string[] = []

  constructor (maxLineBytes = LLM_MAX_SSE_LINE_BYTES) {
    this.maxLineChars = maxLineBytes
  }

  /** feeds bytes; returns the data of every event completed by them */
  push (bytes: Uint8Array): string[] {
    this.buffer += this.decoder.decode(bytes, { stream: true })
    return this.takeLines()
  }

  /** the end of the stream: an event without a final blank line still counts */
  end (): string[] {
    this.buffer += this.decoder.decode()
    const out = this.takeLines()
    if (this.buffer.length > 0) out.push(...this.line(this.buffer))
    this.buffer = ''
    if (this.data.length > 0) out.push(this.data.join('\n'))
    this.data = []
    return out
  }

  private takeLines (): string[] {
    const out: string[] = []
    let start = 0
    for (;;) {
      const nl = this.buffer.indexOf('\n', start)
      if (nl === -1) break
      out.push(...this.line(this.buffer.slice(start, nl)))
      start = nl + 1
    }
    this.buffer = this.buffer.slice(start)
    if (this.buffer.length > this.maxLineChars) throw new MessageTooLargeError(`SSE line longer than ${this.maxLineChars} bytes`)
    return out
  }

  /** one line: a field, a comment, or the blank line that ends an event */
  private line (raw: string): string[] {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (line.length > this.maxLineChars) throw new MessageTooLargeError(`SSE line longer than ${this.maxLineChars} bytes`)
    if (line === '') {
      if (this.data.length === 0) return []
      const event = this.data.join('\n')
      this.data = []
      return [event]
    }
    if (line.startsWith(':')) return []
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    if (field !== 'data') return []
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    this.data.push(value)
    return []
  }
}
