/**
 * Default replica placement: rendezvous (highest-random-weight) hashing, so every peer computes
 * the same holders for a doc from the same candidates, and a peer leaving moves only its docs.
 */
import type { PeerId, SelectReplicas } from './types.ts'

/** 32-bit FNV-1a over the UTF-16 code units, then a final avalanche */
export function stableHash (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export const selectReplicasByHash: SelectReplicas = (docId: string, candidates: PeerId[], count: number): PeerId[] => {
  if (count <= 0) return []
  return [...new Set(candidates)]
    .map(peer => ({ peer, weight: stableHash(`${docId}\u0000${peer}`) }))
    .sort((a, b) => b.weight - a.weight || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
    .slice(0, count)
    .map(x => x.peer)
}
