/**
 * Hybrid logical clock timestamps on the wire: two varuints (wall milliseconds, logical counter)
 * in every envelope. The clock itself and its text form live in src/util/hlc.ts (the one clock of
 * the codebase) and are re-exported here for the broker's users.
 */
import * as encoding from 'lib0/encoding'
import { InvalidArgumentError, InvalidMessageError } from '../errors.ts'
import { HLC_MAX_LOGICAL, isValidHlc } from '../util/hlc.ts'
import { decodeStrictly, readUint } from './wire.ts'
import type { HlcTimestamp } from '../util/hlc.ts'
import type { Decoder } from './wire.ts'

export { HybridLogicalClock, HLC_ZERO, compareHlc, formatHlc, parseHlc, isValidHlc } from '../util/hlc.ts'
export type { HlcTimestamp, HybridLogicalClockInit } from '../util/hlc.ts'

export function writeHlc (encoder: encoding.Encoder, ts: HlcTimestamp): void {
  encoding.writeVarUint(encoder, ts.wallMs)
  encoding.writeVarUint(encoder, ts.logical)
}

export function readHlc (decoder: Decoder): HlcTimestamp {
  const wallMs = readUint(decoder, 'hlc.wallMs')
  const logical = readUint(decoder, 'hlc.logical', HLC_MAX_LOGICAL)
  return { wallMs, logical }
}

/** compact binary form (two varuints) */
export function encodeHlc (ts: HlcTimestamp): Uint8Array {
  if (!isValidHlc(ts)) throw new InvalidArgumentError('not a valid HLC timestamp')
  const encoder = encoding.createEncoder()
  writeHlc(encoder, ts)
  return encoding.toUint8Array(encoder)
}

export function decodeHlc (bytes: Uint8Array): HlcTimestamp {
  return decodeStrictly('hlc', bytes, decoder => {
    const ts = readHlc(decoder)
    if (decoder.pos !== decoder.arr.length) throw new InvalidMessageError('hlc: trailing bytes')
    return ts
  })
}
