/**
 * The page's connectivity self-test: can this tab reach the relay (its WebSocket address and the
 * libp2p connection), does WebRTC gather ICE candidates (Chrome gathers none on loopback without
 * a camera/microphone grant), and is a direct WebRTC link to another tab up. Prints what failed.
 */
import type { MeshNode } from '../src/node.ts'
import { el } from './dom.ts'

/** how long the ICE gathering check waits */
const ICE_GATHER_MS = 3000
const WS_OPEN_MS = 3000

export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

/** the ws:// URL of a relay multiaddr such as /ip4/127.0.0.1/tcp/9090/ws/p2p/12D3... */
export function wsUrlOf (multiaddr: string): string | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)\/(ws|wss|tls\/ws)(\/|$)/.exec(multiaddr)
  if (m == null) return undefined
  const host = m[1] === 'ip6' ? `[${m[2]}]` : m[2]
  return `${m[4] === 'ws' ? 'ws' : 'wss'}://${host}:${m[3]}`
}

async function checkWebSocket (url: string): Promise<CheckResult> {
  return await new Promise(resolve => {
    const ws = new WebSocket(url)
    const done = (ok: boolean, detail: string): void => { clearTimeout(timer); ws.close(); resolve({ name: `WebSocket ${url}`, ok, detail }) }
    const timer = setTimeout(() => { done(false, `no answer in ${WS_OPEN_MS} ms`) }, WS_OPEN_MS)
    ws.onopen = () => { done(true, 'opens') }
    ws.onerror = () => { done(false, 'refused or unreachable (is `npm start` running? is the address right?)') }
  })
}

async function checkIce (): Promise<CheckResult> {
  const name = 'WebRTC ICE candidates'
  if (typeof RTCPeerConnection !== 'function') return { name, ok: false, detail: 'this browser has no WebRTC' }
  const pc = new RTCPeerConnection({ iceServers: [] })
  try {
    const candidates: string[] = []
    pc.createDataChannel('probe')
    const gathered = new Promise<void>(resolve => {
      const timer = setTimeout(resolve, ICE_GATHER_MS)
      pc.onicecandidate = (e) => {
        if (e.candidate == null) { clearTimeout(timer); resolve() } else candidates.push(e.candidate.candidate)
      }
    })
    await pc.setLocalDescription(await pc.createOffer())
    await gathered
    if (candidates.length > 0) return { name, ok: true, detail: `${candidates.length} gathered (${candidates.map(c => c.split(' ')[4]).filter(Boolean).slice(0, 3).join(', ')})` }
    return { name, ok: false, detail: 'none gathered: tabs cannot link directly. On a machine with only loopback, Chrome needs --allow-loopback-in-peer-connection and a camera/microphone permission for this page' }
  } finally {
    pc.close()
  }
}

async function checkCameraHint (): Promise<CheckResult> {
  const name = 'camera/microphone permission'
  try {
    const status = await navigator.permissions.query({ name: 'camera' as PermissionName })
    return { name, ok: true, detail: `${status.state} (only needed where the network has no interface but loopback)` }
  } catch {
    return { name, ok: true, detail: 'unknown (the browser does not say)' }
  }
}

export async function runSelfTest (node: MeshNode | undefined, relays: string[]): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  if (relays.length === 0) results.push({ name: 'relay address', ok: false, detail: 'none: give ?relay=MULTIADDR or serve /bootstrap.json' })
  for (const r of relays) {
    const url = wsUrlOf(r)
    results.push(url != null ? await checkWebSocket(url) : { name: `relay ${r}`, ok: false, detail: 'not a WebSocket multiaddr (/ip4/…/tcp/…/ws/p2p/…)' })
  }
  if (node != null) {
    const conns = node.libp2p.getConnections()
    const relayIds = new Set(relays.map(r => r.split('/p2p/')[1]).filter(Boolean))
    const toRelay = conns.filter(c => relayIds.has(c.remotePeer.toString()))
    results.push({ name: 'libp2p connection to the relay', ok: toRelay.length > 0, detail: toRelay.length > 0 ? toRelay.map(c => c.remoteAddr.toString()).join(', ') : `not connected (${conns.length} connections in all)` })
    const direct = conns.filter(c => c.remoteAddr.toString().includes('/webrtc') && !c.remoteAddr.toString().includes('/p2p-circuit'))
    const tabs = node.network.members().filter(m => m.record.role === 'browser' && m.status === 'alive').length
    results.push({ name: 'direct WebRTC links to tabs', ok: direct.length > 0 || tabs === 0, detail: `${direct.length} open, ${tabs} other tabs alive` })
  } else {
    results.push({ name: 'mesh peer', ok: false, detail: 'this tab did not start its peer (see the error at the top)' })
  }
  results.push(await checkIce())
  results.push(await checkCameraHint())
  return results
}

export function renderSelfTest (box: HTMLElement, results: CheckResult[]): void {
  box.replaceChildren(...results.map(r => el('li', { class: r.ok ? 'ok' : 'err' }, `${r.ok ? '✔' : '✘'} ${r.name}: ${r.detail}`)))
}
