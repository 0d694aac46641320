import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as encoding from 'lib0/encoding'
import {
  decodeEnvelope, encodeEnvelope, envelopeSigningBytes, isAck, isCorrelated, isErrorReply, isMessage, isReply, isRequest
} from '../../src/messaging/envelope.ts'
import { createMessageId, messageIdFromBytes, messageIdToBytes, parseMessageId, rngRandomBytes } from '../../src/messaging/message-id.ts'
import {
  CONTENT_TYPE_JSON, CONTENT_TYPE_OCTET_STREAM, errorPayload, jsonPayload, octetStreamPayload, readErrorPayload, readJsonPayload, readPayload
} from '../../src/messaging/payload.ts'
import { MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, MAX_PEER_ID_BYTES } from '../../src/messaging/constants.ts'
import { errorFromRemote } from '../../src/messaging/remote-error.ts'
import { ClockSkewError } from '../../src/errors.ts'
import { seededRng } from '../../src/util/prng.ts'
import { sampleEnvelope, thrownName } from './helpers.ts'

describe('envelope codec', () => {
  it('round-trips every kind, with and without target, signature and traceparent', () => {
    const corr = createMessageId(rngRandomBytes(seededRng(1)))
    const cases = [
      sampleEnvelope(),
      sampleEnvelope({ kind: 'request', target: { kind: 'agent', id: 'counter-1' } }),
      sampleEnvelope({ kind: 'reply', correlationId: corr, target: { kind: 'peer', id: 'peerB' } } as any),
      sampleEnvelope({ kind: 'ack', correlationId: corr, seq: 0, traceparent: '', payload: new Uint8Array(0) } as any),
      sampleEnvelope({ kind: 'error-reply', correlationId: corr, signature: new Uint8Array(64).fill(9) } as any)
    ]
    for (const env of cases) {
      const decoded = decodeEnvelope(encodeEnvelope(env))
      assert.deepEqual(decoded.envelope, env)
      assert.deepEqual(decoded.version, { major: 1, minor: 0 })
    }
  })

  it('discriminates kinds with guards', () => {
    const corr = createMessageId(rngRandomBytes(seededRng(2)))
    const reply = sampleEnvelope({ kind: 'reply', correlationId: corr } as any)
    assert.ok(isReply(reply) && isCorrelated(reply) && !isRequest(reply))
    assert.ok(isMessage(sampleEnvelope()) && !isCorrelated(sampleEnvelope()))
    assert.ok(isAck(sampleEnvelope({ kind: 'ack', correlationId: corr } as any)))
    assert.ok(isErrorReply(sampleEnvelope({ kind: 'error-reply', correlationId: corr } as any)))
  })

  it('gives the receiver exactly the bytes the sender signed, and the signature changes nothing else', () => {
    const env = sampleEnvelope()
    const toSign = envelopeSigningBytes(env)
    const signed = { ...env, signature: new Uint8Array(64).fill(3) }
    const decoded = decodeEnvelope(encodeEnvelope(signed))
    assert.deepEqual(decoded.signedBytes, toSign)
    assert.deepEqual(decoded.envelope.signature, signed.signature)
    // tampering with the payload changes the signed bytes
    const tampered = encodeEnvelope({ ...signed, payload: new TextEncoder().encode('{"op":"dec"}') })
    assert.notDeepEqual(decodeEnvelope(tampered).signedBytes, toSign)
  })

  it('refuses another major version and reads a newer minor, ignoring its trailing fields', () => {
    const env = sampleEnvelope()
    const wire = encodeEnvelope(env)
    const v2 = wire.slice(); v2[0] = 2
    assert.equal(thrownName(() => decodeEnvelope(v2)), 'UnsupportedVersionError')
    // a 1.3 sender appends a field to the body and one after the signature
    const inner = decodeEnvelope(wire)
    const bodyEnc = encoding.createEncoder()
    // reconstruct the body by stripping the outer framing of the 1.0 encoding
    const body = wire.slice(2 + varuintLen(wire, 2), inner.signedBytes.length)
    encoding.writeUint8Array(bodyEnc, body)
    encoding.writeVarString(bodyEnc, 'future-field')
    const newBody = encoding.toUint8Array(bodyEnc)
    const out = encoding.createEncoder()
    encoding.writeVarUint(out, 1); encoding.writeVarUint(out, 3)
    encoding.writeVarUint8Array(out, newBody)
    encoding.writeVarUint8Array(out, new Uint8Array(0))
    encoding.writeVarUint(out, 42)
    const decoded = decodeEnvelope(encoding.toUint8Array(out))
    assert.deepEqual(decoded.envelope, env)
    assert.deepEqual(decoded.version, { major: 1, minor: 3 })
    // the same trailing bytes in a 1.0 envelope are malformed
    const strict = encoding.createEncoder()
    encoding.writeVarUint(strict, 1); encoding.writeVarUint(strict, 0)
    encoding.writeVarUint8Array(strict, newBody)
    encoding.writeVarUint8Array(strict, new Uint8Array(0))
    assert.equal(thrownName(() => decodeEnvelope(encoding.toUint8Array(strict))), 'InvalidMessageError')
  })

  it('refuses oversized input and fields over their caps with MessageTooLargeError', () => {
    assert.equal(thrownName(() => decodeEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1))), 'MessageTooLargeError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1) }))), 'MessageTooLargeError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ sender: 'x'.repeat(MAX_PEER_ID_BYTES + 1) }))), 'MessageTooLargeError')
    // a hand-made envelope whose sender length claims 10 kB
    const enc = encoding.createEncoder()
    encoding.writeVarUint(enc, 1); encoding.writeVarUint(enc, 0)
    const body = encoding.createEncoder()
    encoding.writeVarUint(body, 0); encoding.writeUint8Array(body, new Uint8Array(16)); encoding.writeVarUint(body, 10_000)
    encoding.writeVarUint8Array(enc, encoding.toUint8Array(body))
    encoding.writeVarUint8Array(enc, new Uint8Array(0))
    assert.equal(thrownName(() => decodeEnvelope(encoding.toUint8Array(enc))), 'MessageTooLargeError')
  })

  it('refuses malformed input with InvalidMessageError', () => {
    const wire = encodeEnvelope(sampleEnvelope())
    assert.equal(thrownName(() => decodeEnvelope(new Uint8Array(0))), 'InvalidMessageError')
    assert.equal(thrownName(() => decodeEnvelope(wire.subarray(0, wire.length - 3))), 'InvalidMessageError')
    assert.equal(thrownName(() => decodeEnvelope('nope' as any)), 'InvalidMessageError')
    const badKind = wire.slice(); badKind[3] = 9 // first body byte: kind
    assert.equal(thrownName(() => decodeEnvelope(badKind)), 'InvalidMessageError')
  })

  it('refuses to encode invalid fields with InvalidArgumentError', () => {
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ traceparent: 'abc' }))), 'InvalidArgumentError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ seq: -1 }))), 'InvalidArgumentError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ sender: '' }))), 'InvalidArgumentError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ id: 'xyz' as any }))), 'InvalidArgumentError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ kind: 'reply' } as any))), 'InvalidArgumentError')
    assert.equal(thrownName(() => encodeEnvelope(sampleEnvelope({ sender: 'a\ud800' }))), 'InvalidArgumentError')
  })
})

function varuintLen (buf: Uint8Array, at: number): number {
  let n = 0
  while ((buf[at + n] & 0x80) !== 0) n++
  return n + 1
}

describe('message ids', () => {
  it('are 16 bytes from the injected source, as 32 hex chars, and round-trip through bytes', () => {
    const a = createMessageId(rngRandomBytes(seededRng(5)))
    const b = createMessageId(rngRandomBytes(seededRng(5)))
    assert.equal(a, b)
    assert.match(a, /^[0-9a-f]{32}$/)
    assert.equal(messageIdFromBytes(messageIdToBytes(a)), a)
    assert.notEqual(createMessageId(), createMessageId())
    // the default source draws from a pooled CSPRNG block: ids stay distinct across refills
    assert.equal(new Set(Array.from({ length: 1000 }, () => createMessageId())).size, 1000)
    assert.equal(thrownName(() => parseMessageId('ABC')), 'InvalidMessageError')
    assert.equal(thrownName(() => createMessageId(() => new Uint8Array(3))), 'InvalidArgumentError')
  })
})

describe('payloads', () => {
  it('encode JSON as UTF-8 and bytes as octet-stream, and read them back by content type', () => {
    const j = jsonPayload({ op: 'chat', text: 'héllo ✓' })
    assert.equal(j.contentType, CONTENT_TYPE_JSON)
    assert.deepEqual(readPayload(j), { op: 'chat', text: 'héllo ✓' })
    const o = octetStreamPayload(new Uint8Array([1, 2, 3]))
    assert.equal(o.contentType, CONTENT_TYPE_OCTET_STREAM)
    assert.deepEqual(readPayload(o), new Uint8Array([1, 2, 3]))
    assert.deepEqual(readJsonPayload({ contentType: 'application/json; charset=utf-8', payload: j.payload }), { op: 'chat', text: 'héllo ✓' })
  })

  it('refuses what has no JSON form, bad JSON and unknown content types with typed errors', () => {
    assert.equal(thrownName(() => jsonPayload(undefined)), 'InvalidArgumentError')
    const cyclic: any = {}; cyclic.self = cyclic
    assert.equal(thrownName(() => jsonPayload(cyclic)), 'InvalidArgumentError')
    assert.equal(thrownName(() => jsonPayload('x'.repeat(MAX_PAYLOAD_BYTES))), 'MessageTooLargeError')
    assert.equal(thrownName(() => readJsonPayload({ contentType: CONTENT_TYPE_JSON, payload: new Uint8Array([0x7b]) })), 'InvalidMessageError')
    assert.equal(thrownName(() => readJsonPayload({ contentType: CONTENT_TYPE_JSON, payload: new Uint8Array([0xff]) })), 'InvalidMessageError')
    assert.equal(thrownName(() => readPayload({ contentType: 'text/plain', payload: new Uint8Array(0) })), 'InvalidMessageError')
  })

  it('carries errors as { name, message }', () => {
    const p = errorPayload(Object.assign(new Error('no such agent'), { name: 'NotFoundError' }))
    assert.deepEqual(readErrorPayload(p), { name: 'NotFoundError', message: 'no such agent' })
    assert.equal(thrownName(() => readErrorPayload(jsonPayload({ name: 1 }))), 'InvalidMessageError')
  })

  it('a clock refusal comes back as ClockSkewError with its retry delay, also from a peer that sent InvalidMessageError', () => {
    const sent = readErrorPayload(errorPayload(new ClockSkewError('stamp ahead', { details: { retryAfterMs: 1234 } })))
    assert.deepEqual(sent, { name: 'ClockSkewError', message: 'stamp ahead', reason: 'clock-skew', retryAfterMs: 1234 })
    const { name, message, ...extra } = sent
    const back = errorFromRemote(name, message, 'peerB', extra)
    assert.ok(back instanceof ClockSkewError)
    assert.equal(back.status, 503)
    assert.equal(back.details?.retryAfterMs, 1234)
    // before ClockSkewError a receiver refused with InvalidMessageError and reason 'clock-skew'
    const older = errorFromRemote('InvalidMessageError', 'refused', 'peerB', { reason: 'clock-skew', retryAfterMs: 9 })
    assert.ok(older instanceof ClockSkewError)
    assert.equal(older.details?.retryAfterMs, 9)
    assert.equal(errorFromRemote('InvalidMessageError', 'bad', 'peerB').name, 'InvalidMessageError')
  })
})
