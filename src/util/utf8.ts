/**
 * UTF-8 for binary codecs. Decoding is strict (malformed bytes throw) and byte-exact: a leading
 * U+FEFF is part of the string, not a byte-order mark to drop, so every string a codec writes
 * decodes to the same string. (A default TextDecoder strips it: an agent id "\uFEFF…" came back
 * one character shorter, and a signature over it no longer matched what was sent.)
 */
export const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
export const utf8Encoder = new TextEncoder()
