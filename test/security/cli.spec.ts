/**
 * The CLI side of credentials: `agentmesh keygen` makes the admin key pair, `agentmesh credential`
 * signs one offline, and a relay started with the admin key issues short-lived ones at
 * POST /credentials to callers holding the bearer secret.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { publicKeyFromText, verifyCredential } from '../../src/security/index.ts'
import { startProcess, type PeerProcess } from '../helpers/processes.ts'

const run = promisify(execFile)
const BIN = new URL('../../bin/agentmesh.js', import.meta.url).pathname
const SECRET = 'test-secret-0123456789'

describe('credentials from the command line', () => {
  let dir: string
  let relay: PeerProcess | undefined
  let publicKey: string
  let peerId: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentmesh-cred-'))
    const { stdout } = await run(process.execPath, [BIN, 'keygen', '--out', join(dir, 'admin.key')])
    const out = JSON.parse(stdout) as { publicKey: string, privateKeyFile: string }
    publicKey = out.publicKey
    assert.equal(out.privateKeyFile, join(dir, 'admin.key'))
    peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  })

  after(async () => {
    await relay?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it('agentmesh credential signs a credential that verifies against the public key', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'credential', '--admin-key', join(dir, 'admin.key'), '--peer', peerId, '--roles', 'host,publisher', '--mesh', 'clim', '--ttl-hours', '1'])
    const c = await verifyCredential(stdout.trim(), publicKeyFromText(publicKey), { peerId, mesh: 'clim', now: Date.now() })
    assert.deepEqual(c.roles, ['host', 'publisher'])
    await assert.rejects(run(process.execPath, [BIN, 'credential', '--admin-key', join(dir, 'admin.key'), '--peer', peerId, '--roles', 'king']), (err: { code: number, stderr: string }) => err.code === 2 && /--roles/.test(err.stderr))
  })

  it('a relay with the admin key issues credentials at POST /credentials to bearer-secret holders only', async () => {
    relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', 'clim', '--mesh-key', publicKey, '--admin-key', join(dir, 'admin.key')], { env: { AGENTMESH_ADMIN_SECRET: SECRET } })
    const post = async (body: unknown, auth?: string): Promise<Response> => await fetch(`${relay!.ready.http}/credentials`, {
      method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...(auth !== undefined ? { authorization: auth } : {}) }, signal: AbortSignal.timeout(5000)
    })
    const ok = await post({ peerId, ttlMs: 60_000 }, `Bearer ${SECRET}`)
    assert.equal(ok.status, 201)
    const issued = await ok.json() as { credential: string, roles: string[], expiry: number }
    assert.deepEqual(issued.roles, ['host', 'publisher'])
    await verifyCredential(issued.credential, publicKeyFromText(publicKey), { peerId, mesh: 'clim', now: Date.now() })
    for (const auth of [undefined, 'Bearer wrong', SECRET]) {
      const res = await post({ peerId }, auth)
      assert.equal(res.status, 403)
      assert.equal((await res.json() as { error: { name: string } }).error.name, 'UnauthorizedError')
    }
    for (const bad of [{ peerId: 'x' }, { peerId, ttlMs: 1e15 }, '{not json', [1, 2]]) {
      const res = await post(bad, `Bearer ${SECRET}`)
      assert.equal(res.status, 400, JSON.stringify(bad))
    }
  })
})
