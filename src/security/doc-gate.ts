/**
 * Who may change replicated CRDT documents in a credentialed mesh. A document's updates are
 * accepted only from a peer whose credential grants the role the document needs: agent state
 * documents need `host` (only hosts run agents and hold their state), every other document needs
 * `publisher` (the role its gossip topic needs). A peer without it may still read: a catch-up
 * exchange with it runs, and only what it sends that would change the document is refused.
 * Updates are judged by the peer that sends them (gossip author, sync stream peer), not by the
 * Yjs client ids inside (those are chosen by anyone); a member that re-shares what it accepted
 * vouches for it.
 */
import type { GateRole, RoleGate } from './authority.ts'
import type { MeshRole } from './credential.ts'

/** the hook the CRDT replicator takes (see DocWriteGate in src/consensus/crdt) */
export interface DocRoleGate {
  /** may `peer` change `docId` now */
  allows: (peer: string, docId: string) => boolean
  /** records (log line + metric) that `peer` was refused `what` on `docId` */
  refuse: (peer: string, docId: string, what: string) => void
}

export interface DocWriteGateInit {
  /** the role writing `docId` needs (default: `publisher` for every document) */
  roleFor?: (docId: string) => MeshRole
}

/** the document write gate over a role gate (the MembershipAuthority) */
export function docWriteGate (gate: RoleGate, init: DocWriteGateInit = {}): DocRoleGate {
  const roleFor = init.roleFor ?? ((): GateRole => 'publisher')
  return {
    allows: (peer, docId) => gate.allows(peer, roleFor(docId)),
    refuse: (peer, docId, what) => { gate.refuse(peer, roleFor(docId), `${what} (document ${docId})`) }
  }
}

/** agent state documents (ids starting with `agentPrefix`) need `host`, all others `publisher` */
export function agentDocRoles (agentPrefix: string): (docId: string) => MeshRole {
  return (docId) => docId.startsWith(agentPrefix) ? 'host' : 'publisher'
}
