import type { Connection } from '@libp2p/interface'
import type { Link, LinkTransport, Member, Topology } from './types.ts'

/** The transport a connection runs over, from its remote address. */
export function transportOf (remoteAddr: string): LinkTransport {
  if (remoteAddr.includes('/webrtc')) return 'webrtc'
  if (remoteAddr.includes('/p2p-circuit')) return 'circuit-relay'
  if (remoteAddr.includes('/ws') || remoteAddr.includes('/wss') || remoteAddr.includes('/tls/ws')) return 'websockets'
  return 'tcp'
}

const PREFERENCE: LinkTransport[] = ['webrtc', 'tcp', 'websockets', 'circuit-relay']

/** One link per remote peer: the best open connection's transport. */
export function linksOf (connections: Connection[]): Link[] {
  const best = new Map<string, LinkTransport>()
  for (const c of connections) {
    if (c.status !== 'open') continue
    const peer = c.remotePeer.toString()
    const t = transportOf(c.remoteAddr.toString())
    const have = best.get(peer)
    if (have == null || PREFERENCE.indexOf(t) < PREFERENCE.indexOf(have)) best.set(peer, t)
  }
  return [...best].map(([peer, transport]) => ({ peer, transport })).sort((a, b) => a.peer < b.peer ? -1 : 1)
}

/**
 * The mesh-wide topology from every member's last record plus our own links. An edge reported by
 * both ends appears once; where the two ends disagree (one side still sees a relayed path while
 * the other upgraded) the better transport wins.
 */
export function meshTopology (self: { peerId: string, role: Member['record']['role'], links: Link[] }, members: Member[]): Topology {
  const nodes: Topology['nodes'] = [{ peerId: self.peerId, role: self.role, status: 'self' }]
  for (const m of members) nodes.push({ peerId: m.peerId, role: m.record.role, status: m.status })
  const known = new Set(nodes.map(n => n.peerId))
  const edges = new Map<string, Topology['edges'][number]>()
  const add = (a: string, b: string, transport: LinkTransport): void => {
    if (!known.has(a) || !known.has(b) || a === b) return
    const [from, to] = a < b ? [a, b] : [b, a]
    const key = `${from}|${to}`
    const have = edges.get(key)
    if (have == null || PREFERENCE.indexOf(transport) < PREFERENCE.indexOf(have.transport)) edges.set(key, { from, to, transport })
  }
  for (const l of self.links) add(self.peerId, l.peer, l.transport)
  for (const m of members) {
    if (m.status === 'failed') continue
    for (const l of m.record.links) {
      const other = members.find(x => x.peerId === l.peer)
      if (other?.status === 'failed') continue
      add(m.peerId, l.peer, l.transport)
    }
  }
  return { nodes, edges: [...edges.values()] }
}
