/**
 * The Node side of the browser tests: a relay and two Node peers on 127.0.0.1, started by
 * test/run-browser.js before the browser runs; and a second mesh that requires membership
 * credentials (`secure`: its relay issues tab tokens at POST /credentials). Prints one JSON line
 * with their addresses, then stays up until stdin closes or a signal arrives.
 */
import { createNode, type MeshNode } from '../../src/node.ts'
import { startSecureMesh } from './fixture-secure.ts'

const mesh = process.env.AGENTMESH_MESH ?? 'browser-test'
const relay = await createNode({ mesh, role: 'relay', host: '127.0.0.1', port: 0 })
const relayAddr = relay.libp2p.getMultiaddrs().map(a => a.toString()).find(a => a.includes('/ws/'))
if (relayAddr == null) throw new Error('relay has no websocket address')
const peers: MeshNode[] = []
for (let i = 0; i < 2; i++) peers.push(await createNode({ mesh, bootstrap: [relayAddr], host: '127.0.0.1', port: 0 }))

const secure = await startSecureMesh(`${mesh}-secure`)

process.stdout.write(JSON.stringify({ mesh, relay: relayAddr, relayPeerId: relay.peerId, nodePeerIds: peers.map(p => p.peerId), secure: secure.fixture }) + '\n')

let stopping = false
async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await Promise.allSettled([relay, ...peers].map(async n => { await n.stop() }).concat(secure.stop()))
  process.exit(0)
}
process.on('SIGTERM', () => { void stop() })
process.on('SIGINT', () => { void stop() })
process.stdin.on('end', () => { void stop() })
process.stdin.resume()
