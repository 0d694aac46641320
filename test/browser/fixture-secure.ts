/**
 * The credentialed mesh of the browser tests (started by fixture-mesh.ts, in Node): a relay that
 * holds the mesh admin key and serves POST /credentials behind a bearer secret, and two Node
 * peers with every role. Acting as a page's backend, it asks the relay's endpoint for a tab token
 * (host + publisher) for a key it makes, and hands key and token to the browser test.
 */
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type MeshNode } from '../../src/node.ts'
import { servePeer } from '../../src/admin/serve.ts'
import { privateKeyToText, publicKeyToText, signCredential } from '../../src/security/index.ts'

export interface SecureFixture {
  mesh: string
  relay: string
  relayPeerId: string
  nodePeerIds: string[]
  /** the mesh admin public key every peer is started with */
  meshKey: string
  /** a tab's private key (base64 protobuf) and the token the relay's endpoint issued for it */
  tabKey: string
  tabCredential: string
}

export async function startSecureMesh (mesh: string): Promise<{ fixture: SecureFixture, stop: () => Promise<void> }> {
  const admin = await generateKeyPair('Ed25519')
  const meshKey = publicKeyToText(admin.publicKey)
  const secret = randomBytes(16).toString('hex')
  const member = async (): Promise<{ privateKey: PrivateKey, credential: string }> => {
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey).toString()
    return { privateKey, credential: await signCredential(admin, { mesh, peerId, roles: ['voter', 'host', 'publisher'], expiry: Date.now() + 3 * 60 * 60_000 }) }
  }
  const relay = await servePeer({ mesh, role: 'relay', host: '127.0.0.1', port: 0, meshKey, ...await member() }, { host: '127.0.0.1', port: 0 }, { credentialIssuer: { adminKey: admin, secret } })
  const nodes: MeshNode[] = []
  try {
    const relayAddr = relay.node.libp2p.getMultiaddrs().map(a => a.toString()).find(a => a.includes('/ws/'))
    if (relayAddr == null) throw new Error('secure relay has no websocket address')
    for (let i = 0; i < 2; i++) nodes.push(await createNode({ mesh, bootstrap: [relayAddr], host: '127.0.0.1', port: 0, meshKey, ...await member() }))
    const tabKey = await generateKeyPair('Ed25519')
    const res = await fetch(`${relay.http}/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ peerId: peerIdFromPrivateKey(tabKey).toString() })
    })
    if (res.status !== 201) throw new Error(`POST /credentials answered ${res.status}: ${await res.text()}`)
    const { credential } = await res.json() as { credential: string }
    return {
      fixture: { mesh, relay: relayAddr, relayPeerId: relay.node.peerId, nodePeerIds: nodes.map(n => n.peerId), meshKey, tabKey: privateKeyToText(tabKey), tabCredential: credential },
      stop: async () => { await Promise.allSettled([relay.stop(), ...nodes.map(async n => { await n.stop() })]) }
    }
  } catch (err) {
    await Promise.allSettled([relay.stop(), ...nodes.map(async n => { await n.stop() })])
    throw err
  }
}
