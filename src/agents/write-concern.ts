/**
 * How many peers besides the owner must hold a turn's state changes before its reply is released.
 *
 * The configured concern, lowered only as far as the peers around allow. It drops to 0 (the
 * reply goes out with the state on this peer alone) only on a peer that is the whole Raft group:
 * a one-peer mesh has no one to hand its state to. A peer that merely lost sight of the others
 * (cut off by a partition, or they crashed) keeps asking for a replica: its lease is about to
 * move to a peer that activates from the replicas, and a turn none of them holds would be lost
 * although it was acknowledged.
 */
export function writeConcernFor (wanted: number, othersAround: number, voters: () => readonly string[], self: string): number {
  const around = Math.min(wanted, othersAround)
  if (around > 0 || wanted <= 0) return around
  // read only here: this runs on every turn, and the voters are needed only when no one is around
  const aloneInGroup = voters().every(v => v === self)
  return aloneInGroup ? 0 : 1
}
