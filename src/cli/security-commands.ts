/** `agentmesh keygen` and `agentmesh credential`, and reading keys/credentials given as text or files. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { InvalidArgumentError } from '../errors.ts'
import { privateKeyFromText, privateKeyToText, publicKeyToText, signCredential } from '../security/index.ts'
import type { MeshRole } from '../security/index.ts'
import type { CredentialCommand, KeygenCommand } from './args.ts'

/** largest key or credential file read */
const MAX_SECRET_FILE_BYTES = 16 * 1024

/** a flag value that is either the text itself or the path of a file holding it */
export function readTextOrFile (flag: string, value: string): string {
  if (existsSync(value)) {
    const buf = readFileSync(value)
    if (buf.byteLength > MAX_SECRET_FILE_BYTES) throw new InvalidArgumentError(`--${flag} file ${value} is larger than ${MAX_SECRET_FILE_BYTES} bytes`)
    return buf.toString('utf8').trim()
  }
  return value.trim()
}

export async function runKeygen (cmd: KeygenCommand, out: { write: (s: string) => unknown }): Promise<number> {
  const key = await generateKeyPair('Ed25519')
  const publicKey = publicKeyToText(key.publicKey)
  if (cmd.out !== undefined) {
    writeFileSync(cmd.out, privateKeyToText(key) + '\n', { mode: 0o600, flag: 'wx' })
    out.write(JSON.stringify({ publicKey, privateKeyFile: cmd.out }) + '\n')
  } else {
    out.write(JSON.stringify({ publicKey, privateKey: privateKeyToText(key) }) + '\n')
  }
  return 0
}

export async function runCredential (cmd: CredentialCommand, out: { write: (s: string) => unknown }): Promise<number> {
  const admin = privateKeyFromText(readTextOrFile('admin-key', cmd.adminKey))
  try {
    const { peerIdFromString } = await import('@libp2p/peer-id')
    peerIdFromString(cmd.peer)
  } catch (err) {
    throw new InvalidArgumentError(`--peer must be a peer id, got ${JSON.stringify(cmd.peer.slice(0, 64))}`, { cause: err })
  }
  const now = Date.now()
  const credential = await signCredential(admin, { mesh: cmd.mesh, peerId: cmd.peer, roles: cmd.roles as MeshRole[], expiry: now + Math.round(cmd.ttlHours * 3_600_000) }, now)
  out.write(credential + '\n')
  return 0
}
