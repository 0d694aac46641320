/** State-vector helpers: decoding peer input safely and comparing vectors. */
import * as Y from 'yjs'
import { InvalidMessageError } from '../../errors.ts'

export type StateVector = Map<number, number>

/** decodes a peer's encoded state vector, refusing malformed input */
export function decodeStateVectorSafe (bytes: Uint8Array): StateVector {
  try {
    return Y.decodeStateVector(bytes)
  } catch (err) {
    throw new InvalidMessageError('malformed state vector', { cause: err })
  }
}

/** true when `have` contains every update counted in `need` */
export function covers (have: StateVector, need: StateVector): boolean {
  for (const [client, clock] of need) {
    if (clock > 0 && (have.get(client) ?? 0) < clock) return false
  }
  return true
}

/** how the two vectors relate: 'equal', 'behind' (a lacks something b has), 'ahead', or 'diverged' */
export function compareVectors (a: StateVector, b: StateVector): 'equal' | 'behind' | 'ahead' | 'diverged' {
  const aCoversB = covers(a, b)
  const bCoversA = covers(b, a)
  if (aCoversB && bCoversA) return 'equal'
  if (aCoversB) return 'ahead'
  if (bCoversA) return 'behind'
  return 'diverged'
}

/** total operations counted in `b` that `a` lacks */
export function missingCount (a: StateVector, b: StateVector): number {
  let n = 0
  for (const [client, clock] of b) n += Math.max(0, clock - (a.get(client) ?? 0))
  return n
}

/**
 * a 32-bit fingerprint of the doc's state vector and delete set: two docs with equal state
 * vectors but different deletions (a lost delete) have different fingerprints
 */
export function docFingerprint (doc: Y.Doc): number {
  const bytes = Y.encodeSnapshot(Y.snapshot(doc))
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
