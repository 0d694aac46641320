/**
 * The envelope encoder's hot path: sizes every field first, then writes the whole wire form into
 * one exactly-sized buffer (no growing encoder, no intermediate body copy). Byte for byte the
 * format of envelope.ts (varuints as in lib0 / protobuf, strings as varuint length + UTF-8).
 * Callers validate the envelope first.
 */
import { ENVELOPE_VERSION_MAJOR, ENVELOPE_VERSION_MINOR, MESSAGE_ID_BYTES } from './constants.ts'
import { utf8Length } from './wire.ts'
import type { Envelope, EnvelopeKind } from './envelope.ts'

const KIND_CODE: Record<EnvelopeKind, number> = { message: 0, request: 1, reply: 2, ack: 3, 'error-reply': 4 }
const utf8 = new TextEncoder()
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i

export function varuintSize (n: number): number {
  let size = 1
  while (n > 0x7f) { n = Math.floor(n / 128); size++ }
  return size
}

function writeVaruint (out: Uint8Array, off: number, n: number): number {
  while (n > 0x7f) {
    out[off++] = 0x80 | (n % 128)
    n = Math.floor(n / 128)
  }
  out[off++] = n
  return off
}


function writeString (out: Uint8Array, off: number, s: string, bytes: number): number {
  off = writeVaruint(out, off, bytes)
  if (bytes === s.length) {
    for (let i = 0; i < bytes; i++) out[off + i] = s.charCodeAt(i)
  } else {
    utf8.encodeInto(s, out.subarray(off, off + bytes))
  }
  return off + bytes
}

function writeMessageId (out: Uint8Array, off: number, id: string): number {
  for (let i = 0; i < MESSAGE_ID_BYTES; i++) out[off + i] = (HEX_VALUE[id.charCodeAt(2 * i)] << 4) | HEX_VALUE[id.charCodeAt(2 * i + 1)]
  return off + MESSAGE_ID_BYTES
}

/**
 * the envelope's wire bytes: `major | minor | varbytes body | varbytes signature`, or without
 * the signature part (`signed: false`), the bytes a signature covers
 */
export function writeEnvelopeBytes (e: Envelope, withSignature: boolean): Uint8Array {
  const senderLen = utf8Length(e.sender)
  const traceLen = e.traceparent.length // ASCII (validated)
  const typeLen = e.contentType.length // printable ASCII (validated)
  const targetLen = e.target != null ? utf8Length(e.target.id) : 0
  const correlated = e.kind === 'reply' || e.kind === 'ack' || e.kind === 'error-reply'
  const bodyLen = 1 + MESSAGE_ID_BYTES +
    varuintSize(senderLen) + senderLen +
    varuintSize(e.seq) + varuintSize(e.hlc.wallMs) + varuintSize(e.hlc.logical) +
    varuintSize(traceLen) + traceLen + varuintSize(typeLen) + typeLen +
    1 + (e.target != null ? varuintSize(targetLen) + targetLen : 0) +
    (correlated ? MESSAGE_ID_BYTES : 0) +
    varuintSize(e.payload.length) + e.payload.length
  const sig = e.signature
  const sigLen = sig?.length ?? 0
  const total = varuintSize(ENVELOPE_VERSION_MAJOR) + varuintSize(ENVELOPE_VERSION_MINOR) + varuintSize(bodyLen) + bodyLen +
    (withSignature ? varuintSize(sigLen) + sigLen : 0)
  const out = new Uint8Array(total)
  let off = writeVaruint(out, 0, ENVELOPE_VERSION_MAJOR)
  off = writeVaruint(out, off, ENVELOPE_VERSION_MINOR)
  off = writeVaruint(out, off, bodyLen)
  out[off++] = KIND_CODE[e.kind]
  off = writeMessageId(out, off, e.id)
  off = writeString(out, off, e.sender, senderLen)
  off = writeVaruint(out, off, e.seq)
  off = writeVaruint(out, off, e.hlc.wallMs)
  off = writeVaruint(out, off, e.hlc.logical)
  off = writeString(out, off, e.traceparent, traceLen)
  off = writeString(out, off, e.contentType, typeLen)
  if (e.target == null) out[off++] = 0
  else {
    out[off++] = e.target.kind === 'agent' ? 1 : 2
    off = writeString(out, off, e.target.id, targetLen)
  }
  if (correlated) off = writeMessageId(out, off, e.correlationId)
  off = writeVaruint(out, off, e.payload.length)
  out.set(e.payload, off)
  off += e.payload.length
  if (withSignature) {
    off = writeVaruint(out, off, sigLen)
    if (sig != null) out.set(sig, off)
  }
  return out
}
