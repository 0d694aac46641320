/**
 * Security: membership credentials (a mesh admin key signs `{ mesh, peerId, roles, expiry }`; peers
 * without a valid one may connect and read but not vote, host agents or publish on control
 * topics) and flood protection (per-peer rate limits, gossipsub peer scoring).
 */
export {
  signCredential, decodeCredential, decodeCredentialBytes, verifyCredential, checkClaims,
  publicKeyToText, privateKeyToText, publicKeyFromText, privateKeyFromText, MESH_ROLES
} from './credential.ts'
export type { Credential, CredentialClaims, MeshRole, SignedCredential, VerifyCredentialOptions } from './credential.ts'
export { MembershipAuthority } from './authority.ts'
export type { AuthorityRecord, MembershipAuthorityInit, RoleGate } from './authority.ts'
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
