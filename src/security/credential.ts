/**
 * Membership credentials: the mesh admin key signs `{ mesh, peerId, roles, expiry }`.
 *
 *   bytes  = [major varuint, minor varuint, body varbytes (JSON), signature varbytes]
 *   signed = domain text + [major, minor, body]
 *   text   = base64url(bytes)   (how a credential travels in records, flags and HTTP bodies)
 *
 * A peer presents its credential in its signed node record (`ext.credential`); verifying checks
 * the admin signature, that the credential names the record's author and this mesh, and expiry.
 */
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import { publicKeyFromProtobuf, publicKeyToProtobuf, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { fromString as bytesFromString, toString as bytesToString } from 'uint8arrays'
import { InvalidArgumentError, InvalidMessageError, MessageTooLargeError, UnauthorizedError, UnsupportedVersionError } from '../errors.ts'
import {
  CREDENTIAL_CLOCK_SKEW_MS, CREDENTIAL_SIGNATURE_DOMAIN, CREDENTIAL_VERSION_MAJOR, CREDENTIAL_VERSION_MINOR,
  MAX_CREDENTIAL_BYTES, MAX_CREDENTIAL_CHARS, MAX_CREDENTIAL_ROLES, MAX_KEY_TEXT_CHARS, MAX_PEER_ID_CHARS
} from './constants.ts'

/** what a credential lets a peer do */
export type MeshRole = 'voter' | 'host' | 'publisher'
export const MESH_ROLES: readonly MeshRole[] = ['voter', 'host', 'publisher']

export interface CredentialClaims {
  /** the mesh it is valid in */
  mesh: string
  /** the peer it was issued to */
  peerId: string
  roles: MeshRole[]
  /** wall-clock ms since the epoch after which it is no longer honoured */
  expiry: number
}

export interface Credential extends CredentialClaims {
  /** when it was signed (wall-clock ms) */
  issuedAt: number
}

/** a decoded credential with the bytes its signature covers */
export interface SignedCredential {
  credential: Credential
  signed: Uint8Array
  signature: Uint8Array
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })
const BASE64URL = /^[A-Za-z0-9_-]*$/

function signedBytes (body: Uint8Array): Uint8Array {
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, CREDENTIAL_SIGNATURE_DOMAIN)
  encoding.writeVarUint(enc, CREDENTIAL_VERSION_MAJOR)
  encoding.writeVarUint(enc, CREDENTIAL_VERSION_MINOR)
  encoding.writeVarUint8Array(enc, body)
  return encoding.toUint8Array(enc)
}

/** signs claims with the mesh admin key; answers the credential text (base64url) */
export async function signCredential (adminKey: PrivateKey, claims: CredentialClaims, now: number = Date.now()): Promise<string> {
  const credential = validateClaims({ ...claims, issuedAt: now })
  const body = textEncoder.encode(JSON.stringify(credential))
  const signature = await adminKey.sign(signedBytes(body))
  const enc = encoding.createEncoder()
  encoding.writeVarUint(enc, CREDENTIAL_VERSION_MAJOR)
  encoding.writeVarUint(enc, CREDENTIAL_VERSION_MINOR)
  encoding.writeVarUint8Array(enc, body)
  encoding.writeVarUint8Array(enc, signature)
  const bytes = encoding.toUint8Array(enc)
  if (bytes.byteLength > MAX_CREDENTIAL_BYTES) throw new MessageTooLargeError(`credential of ${bytes.byteLength} bytes exceeds ${MAX_CREDENTIAL_BYTES}`)
  return bytesToString(bytes, 'base64url')
}

/** decodes a credential text without checking its signature (see verifyCredential) */
export function decodeCredential (text: unknown): SignedCredential {
  if (typeof text !== 'string') throw new InvalidMessageError('a credential is a base64url string')
  if (text.length > MAX_CREDENTIAL_CHARS) throw new MessageTooLargeError(`credential of ${text.length} chars exceeds ${MAX_CREDENTIAL_CHARS}`)
  if (!BASE64URL.test(text)) throw new InvalidMessageError('credential is not base64url')
  let bytes: Uint8Array
  try {
    bytes = bytesFromString(text, 'base64url')
  } catch (err) {
    throw new InvalidMessageError('credential is not base64url', { cause: err })
  }
  return decodeCredentialBytes(bytes)
}

export function decodeCredentialBytes (bytes: Uint8Array): SignedCredential {
  if (bytes.byteLength > MAX_CREDENTIAL_BYTES) throw new MessageTooLargeError(`credential of ${bytes.byteLength} bytes exceeds ${MAX_CREDENTIAL_BYTES}`)
  let major: number, minor: number, body: Uint8Array, signature: Uint8Array
  try {
    const dec = decoding.createDecoder(bytes)
    major = decoding.readVarUint(dec)
    if (major !== CREDENTIAL_VERSION_MAJOR) throw new UnsupportedVersionError(`credential format ${major}.x is not supported (this peer reads ${CREDENTIAL_VERSION_MAJOR}.x)`)
    minor = decoding.readVarUint(dec)
    body = decoding.readVarUint8Array(dec)
    signature = decoding.readVarUint8Array(dec)
    if (dec.pos !== bytes.byteLength) throw new InvalidMessageError('trailing bytes after the credential')
  } catch (err) {
    if (err instanceof UnsupportedVersionError || err instanceof InvalidMessageError) throw err
    throw new InvalidMessageError('truncated or malformed credential', { cause: err })
  }
  let json: unknown
  try {
    json = JSON.parse(textDecoder.decode(body))
  } catch (err) {
    throw new InvalidMessageError('credential body is not JSON', { cause: err })
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InvalidMessageError('credential body is not an object')
  const x = json as Record<string, unknown>
  const credential = validateClaims({
    mesh: x.mesh as string,
    peerId: x.peerId as string,
    roles: x.roles as MeshRole[],
    expiry: x.expiry as number,
    issuedAt: x.issuedAt as number
  }, InvalidMessageError)
  // newer minors may add fields: the signature covers them, we ignore them
  void minor
  const enc = encoding.createEncoder()
  encoding.writeVarString(enc, CREDENTIAL_SIGNATURE_DOMAIN)
  encoding.writeVarUint(enc, major)
  encoding.writeVarUint(enc, minor)
  encoding.writeVarUint8Array(enc, body)
  return { credential, signed: encoding.toUint8Array(enc), signature }
}

export interface VerifyCredentialOptions {
  /** the peer presenting it (the record's author) */
  peerId: string
  mesh: string
  /** wall-clock ms now */
  now: number
  /** grace past expiry (default CREDENTIAL_CLOCK_SKEW_MS) */
  skewMs?: number
}

/**
 * Decodes and verifies a credential text: signed by `adminKey`, issued to `peerId` in `mesh`, not
 * expired. UnauthorizedError (forged, someone else's, expired) or InvalidMessageError (malformed).
 */
export async function verifyCredential (text: unknown, adminKey: PublicKey, options: VerifyCredentialOptions): Promise<Credential> {
  const { credential, signed, signature } = decodeCredential(text)
  let ok = false
  try {
    ok = await adminKey.verify(signed, signature)
  } catch (err) {
    throw new UnauthorizedError('credential signature cannot be checked', { cause: err })
  }
  if (!ok) throw new UnauthorizedError(`credential for ${credential.peerId} is not signed by the mesh admin key`)
  checkClaims(credential, options)
  return credential
}

/** the checks besides the signature: whom and where it is for, and expiry */
export function checkClaims (credential: Credential, options: VerifyCredentialOptions): void {
  if (credential.peerId !== options.peerId) throw new UnauthorizedError(`credential was issued to ${credential.peerId}, presented by ${options.peerId}`)
  if (credential.mesh !== options.mesh) throw new UnauthorizedError(`credential is for mesh "${credential.mesh}", not "${options.mesh}"`)
  if (options.now > credential.expiry + (options.skewMs ?? CREDENTIAL_CLOCK_SKEW_MS)) {
    throw new UnauthorizedError(`credential of ${credential.peerId} expired at ${new Date(credential.expiry).toISOString()}`)
  }
}

type ErrorClass = new (message: string) => Error

function validateClaims (c: Credential, Err: ErrorClass = InvalidArgumentError): Credential {
  if (typeof c.mesh !== 'string' || c.mesh.length === 0 || c.mesh.length > 64) throw new Err('credential mesh must be a name of 1-64 chars')
  if (typeof c.peerId !== 'string' || c.peerId.length === 0 || c.peerId.length > MAX_PEER_ID_CHARS) throw new Err(`credential peerId must be 1-${MAX_PEER_ID_CHARS} chars`)
  if (!Array.isArray(c.roles) || c.roles.length > MAX_CREDENTIAL_ROLES) throw new Err(`credential roles must be a list of at most ${MAX_CREDENTIAL_ROLES}`)
  for (const r of c.roles) {
    if (!MESH_ROLES.includes(r)) throw new Err(`credential role ${JSON.stringify(r)} is not one of ${MESH_ROLES.join(', ')}`)
  }
  if (typeof c.expiry !== 'number' || !Number.isSafeInteger(c.expiry) || c.expiry < 0) throw new Err('credential expiry must be a time in ms')
  if (typeof c.issuedAt !== 'number' || !Number.isSafeInteger(c.issuedAt) || c.issuedAt < 0) throw new Err('credential issuedAt must be a time in ms')
  return { mesh: c.mesh, peerId: c.peerId, roles: [...new Set(c.roles)], expiry: c.expiry, issuedAt: c.issuedAt }
}

// ---- admin keys as text ------------------------------------------------------------------

/** an admin public key as text (base64 of its protobuf form), for `--mesh-key` */
export function publicKeyToText (key: PublicKey): string {
  return bytesToString(publicKeyToProtobuf(key), 'base64')
}

export function privateKeyToText (key: PrivateKey): string {
  return bytesToString(privateKeyToProtobuf(key), 'base64')
}

export function publicKeyFromText (text: string): PublicKey {
  return keyFromText(text, 'public key', b => publicKeyFromProtobuf(b))
}

export function privateKeyFromText (text: string): PrivateKey {
  return keyFromText(text, 'private key', b => privateKeyFromProtobuf(b))
}

function keyFromText<T> (text: string, what: string, parse: (b: Uint8Array) => T): T {
  const t = typeof text === 'string' ? text.trim() : ''
  if (t.length === 0 || t.length > MAX_KEY_TEXT_CHARS) throw new InvalidArgumentError(`a mesh admin ${what} is base64 text of at most ${MAX_KEY_TEXT_CHARS} chars`)
  try {
    return parse(bytesFromString(t.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, ''), 'base64'))
  } catch (err) {
    throw new InvalidArgumentError(`not a mesh admin ${what} (base64 of a libp2p protobuf key)`, { cause: err })
  }
}
