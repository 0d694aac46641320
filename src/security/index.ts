/**
 * Security: membership credentials (a mesh admin key signs `{ mesh, peerId, roles, expiry }`; peers
 * without a valid one may connect and read but not vote, host agents, publish on control topics,
 * change replicated documents or have KV proposals and reads served) and flood protection
 * (per-peer rate limits, gossipsub peer scoring).
 */
export {
  signCredential, decodeCredential, decodeCredentialBytes, verifyCredential, checkClaims,
  publicKeyToText, privateKeyToText, publicKeyFromText, privateKeyFromText, MESH_ROLES
} from './credential.ts'
export type { Credential, CredentialClaims, MeshRole, SignedCredential, VerifyCredentialOptions } from './credential.ts'
export { MembershipAuthority } from './authority.ts'
export type { AuthorityRecord, GateRole, MembershipAuthorityInit, RoleGate } from './authority.ts'
export { docWriteGate, agentDocRoles } from './doc-gate.ts'
export type { DocRoleGate, DocWriteGateInit } from './doc-gate.ts'
export { FloodGuard, DEFAULT_FLOOD_LIMITS } from './flood.ts'
export type { FloodGuardInit, FloodKind, FloodLimits } from './flood.ts'
export { TokenBucket, PeerRateLimiter } from './rate-limit.ts'
export { installGossipGate, isControlTopic } from './gossip-gate.ts'
export type { GossipGateInit, GossipPubsub } from './gossip-gate.ts'
export { guardStreams } from './stream-guard.ts'
export type { HandlerHost } from './stream-guard.ts'
export { issueCredential } from './issue.ts'
export type { IssueCredentialRequest } from './issue.ts'
export {
  CREDENTIAL_EXT_KEY, DEFAULT_ISSUED_CREDENTIAL_TTL_MS, MAX_ISSUED_CREDENTIAL_TTL_MS, MAX_CREDENTIAL_CHARS
} from './constants.ts'
