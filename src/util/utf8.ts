/**
 * UTF-8 for binary codecs. Decoding is strict (malformed bytes throw) and byte-exact: a leading
 * U+FEFF is part of the string, not a byte-order mark to drop, so every string a codec writes
 * decodes to the same string. (A default TextDecoder strips it: an agent id "\uFEFF…" came back
 * one character shorter, and a signature over it no longer matched what was sent.)
 */
import { InvalidArgumentError } from '../errors.ts'

export const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
export const utf8Encoder = new TextEncoder()

/**
 * `s` if its UTF-8 form fits in `maxBytes` (at least 3), else its longest prefix of whole code
 * points that fits with '...' after it. For text bounded on the wire (error messages, refusal
 * reasons): the cut never splits a character, and the string is encoded once.
 */
export function truncateUtf8 (s: string, maxBytes: number): string {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 3) throw new InvalidArgumentError('truncateUtf8 needs room for at least the 3 bytes of "..."')
  const bytes = utf8Encoder.encode(s)
  if (bytes.byteLength <= maxBytes) return s
  let cut = maxBytes - 3
  // back up to the first byte of a character (continuation bytes are 0b10xxxxxx)
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--
  return utf8Decoder.decode(bytes.subarray(0, cut)) + '...'
}
