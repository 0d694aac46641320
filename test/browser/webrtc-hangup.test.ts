import type { MeshNode } from '../../src/node.ts'
import { assert, startTwoTabs, stopTwoTabs, waitFor, type TwoTabs } from './helpers.ts'

/**
 * When one tab gives up its end of a WebRTC connection (as a dial cut short by its deadline does:
 * it closes its RTCPeerConnection, while the other tab has already accepted the connection), the
 * other tab closes its end at once. Before, that end stayed listed as open until ICE gave up
 * (5-30 s), and as a direct connection libp2p opened every new stream on it, each waiting for a
 * data channel that could never open: an RPC to the tab timed out (issue 8).
 */
describe('a WebRTC connection whose far end hung up', function () {
  this.timeout(90_000)
  let tabs: TwoTabs | undefined

  after(async () => { await stopTwoTabs(tabs) })

  it('is closed at once, and an RPC to that tab right after is answered', async () => {
    tabs = await startTwoTabs()
    const { node, other, otherId } = tabs
    const webrtc = (n: MeshNode, id: string): any[] => n.libp2p.getConnections()
      .filter(c => c.remotePeer.toString() === id && c.status === 'open' && c.remoteAddr.toString().includes('/webrtc'))
    await waitFor(() => webrtc(node, otherId).length > 0 && webrtc(other.mesh!, node.peerId).length > 0, 30_000, 'a webrtc link both ways')
    other.mesh!.broker.setRequestHandler(() => 'pong')
    const to = { kind: 'peer' as const, id: otherId }
    assert(await node.broker.request(to, 'ping') === 'pong', 'an RPC over the link')

    // the other tab drops its ends without a word, as a dial given up half-way does
    const mine = webrtc(node, otherId)
    const pcs: RTCPeerConnection[] = mine.map(c => c.maConn?.peerConnection)
    assert(pcs.every(pc => pc instanceof RTCPeerConnection), 'libp2p still keeps the RTCPeerConnection at connection.maConn.peerConnection')

    // our ends close before ICE notices anything (it calls a silent peer disconnected after ~5 s)
    const iceNoticedFirst = mine.map(() => false)
    pcs.forEach((pc, i) => {
      pc.addEventListener('iceconnectionstatechange', () => {
        if (mine[i].status === 'open' && ['disconnected', 'failed'].includes(pc.iceConnectionState)) iceNoticedFirst[i] = true
      })
    })
    for (const c of webrtc(other.mesh!, node.peerId)) (c.maConn.peerConnection as RTCPeerConnection).close()
    await waitFor(() => mine.every(c => c.status !== 'open'), 60_000, 'our ends to close')
    assert(iceNoticedFirst.every(noticed => !noticed), `every end closed as soon as the far end hung up, not once ICE called it ${mine.map((_, i) => iceNoticedFirst[i] ? 'disconnected' : 'connected').join(', ')}`)
    assert(webrtc(node, otherId).every(c => !mine.includes(c)), 'none of them is offered for new streams')

    // and the next RPC goes over a live connection
    assert(await node.broker.request(to, 'ping') === 'pong', 'an RPC right after')
    other.mesh!.broker.setRequestHandler(undefined)
  })
})
