/**
 * Applying the DocWriteGate (membership credentials) to what peers send: gossip updates from a
 * peer the gate does not allow are refused whole; what such a peer sends in a catch-up exchange
 * is refused only when it would change the doc (a reader's step 2 holds nothing we lack, and the
 * exchange must still run for it to read).
 */
import * as Y from 'yjs'
import { UnauthorizedError } from '../../errors.ts'
import type { DocWriteGate, PeerId } from './types.ts'

/** true when applying `update` would change `doc`: content or deletions it does not hold (or an update it cannot read) */
export function updateChangesDoc (doc: Y.Doc, update: Uint8Array): boolean {
  try {
    return !Y.snapshotContainsUpdate(Y.snapshot(doc), update)
  } catch {
    return true
  }
}

/**
 * throws UnauthorizedError (the refusal recorded) when `peer` may not change the doc and sends
 * updates over gossip, or sync content that would change it
 */
export function admitRemoteUpdates (
  gate: DocWriteGate | undefined, doc: Y.Doc, docId: string, peer: PeerId,
  updates: Uint8Array | readonly Uint8Array[], path: 'gossip' | 'sync'
): void {
  if (gate === undefined || gate.allows(peer, docId)) return
  if (path === 'sync') {
    const list = updates instanceof Uint8Array ? [updates] : updates
    if (!list.some(u => updateChangesDoc(doc, u))) return
  }
  gate.refuse(peer, docId, `send ${path} updates`)
  throw new UnauthorizedError(`${peer} may not change document ${docId} (no valid credential for it): its ${path} update is refused`)
}
