/**
 * The topology graph: peers as nodes (this tab ringed, shaped by role), links coloured by
 * transport, laid out by d3-force and drawn as SVG. The layout persists across refreshes; it is
 * nudged only when peers or links change.
 */
import { forceCenter, forceCollide, forceLink, forceManyBody, forceSimulation, type Simulation, type SimulationLinkDatum, type SimulationNodeDatum } from 'd3-force'
import type { MeshModel, PeerRow } from './model.ts'
import { short } from './dom.ts'

const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 560
const HEIGHT = 340

interface GraphNode extends SimulationNodeDatum {
  id: string
  peer: PeerRow
}

interface GraphLink extends SimulationLinkDatum<GraphNode> {
  key: string
  transport: string
}

function svg<K extends keyof SVGElementTagNameMap> (tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  return node
}

/** where a new peer first appears: spread around the centre by its id, the same on every refresh */
function startPosition (id: string): { x: number, y: number } {
  let h = 0
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0
  const angle = (h % 360) * Math.PI / 180
  return { x: WIDTH / 2 + Math.cos(angle) * 60, y: HEIGHT / 2 + Math.sin(angle) * 60 }
}

export class TopologyGraph {
  private readonly root: SVGSVGElement
  private readonly linkLayer: SVGGElement
  private readonly nodeLayer: SVGGElement
  private readonly nodes = new Map<string, GraphNode>()
  private links: GraphLink[] = []
  private readonly simulation: Simulation<GraphNode, GraphLink>
  private shape = ''

  constructor (container: HTMLElement) {
    this.root = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': 'mesh topology' })
    this.linkLayer = svg('g', { class: 'links' })
    this.nodeLayer = svg('g', { class: 'nodes' })
    this.root.append(this.linkLayer, this.nodeLayer)
    container.replaceChildren(this.root)
    this.simulation = forceSimulation<GraphNode, GraphLink>([])
      .force('charge', forceManyBody<GraphNode>().strength(-260))
      .force('link', forceLink<GraphNode, GraphLink>([]).id(n => n.id).distance(l => l.transport === 'webrtc' ? 90 : 120))
      .force('center', forceCenter(WIDTH / 2, HEIGHT / 2))
      .force('collide', forceCollide<GraphNode>(26))
      .on('tick', () => { this.draw() })
  }

  update (model: MeshModel): void {
    const seen = new Set<string>()
    for (const p of model.peers) {
      seen.add(p.peerId)
      const have = this.nodes.get(p.peerId)
      if (have != null) have.peer = p
      else this.nodes.set(p.peerId, { id: p.peerId, peer: p, ...startPosition(p.peerId) })
    }
    for (const id of [...this.nodes.keys()]) if (!seen.has(id)) this.nodes.delete(id)
    const edges = model.edges.filter(e => this.nodes.has(e.from) && this.nodes.has(e.to))
    const shape = [...this.nodes.keys()].sort().join(',') + '#' + edges.map(e => `${e.from}|${e.to}:${e.transport}`).sort().join(',')
    if (shape !== this.shape) {
      this.shape = shape
      // the link force swaps the ids for the node objects, so links are rebuilt only with it
      this.links = edges.map(e => ({ key: `${e.from}|${e.to}`, source: e.from, target: e.to, transport: e.transport }))
      this.simulation.nodes([...this.nodes.values()])
      this.simulation.force<ReturnType<typeof forceLink<GraphNode, GraphLink>>>('link')?.links(this.links)
      this.simulation.alpha(0.6).restart()
    }
    this.draw()
  }

  stop (): void {
    this.simulation.stop()
  }

  private draw (): void {
    const lines = this.links.map(l => {
      const s = l.source as GraphNode
      const t = l.target as GraphNode
      const line = svg('line', { x1: s.x ?? 0, y1: s.y ?? 0, x2: t.x ?? 0, y2: t.y ?? 0, class: `link ${l.transport}` })
      line.append(svg('title', {}))
      line.firstChild!.textContent = `${short(s.id)} ↔ ${short(t.id)}: ${l.transport}`
      return line
    })
    this.linkLayer.replaceChildren(...lines)
    const groups = [...this.nodes.values()].map(n => {
      const x = Math.max(20, Math.min(WIDTH - 20, n.x ?? 0))
      const y = Math.max(20, Math.min(HEIGHT - 28, n.y ?? 0))
      const g = svg('g', { transform: `translate(${x.toFixed(1)},${y.toFixed(1)})`, class: `peer ${n.peer.role} ${n.peer.status}${n.peer.self ? ' self' : ''}`, 'data-peer': n.id })
      const r = n.peer.role === 'relay' ? 15 : n.peer.role === 'node' ? 12 : 10
      if (n.peer.role === 'node') g.append(svg('rect', { x: -r, y: -r, width: 2 * r, height: 2 * r, rx: 3 }))
      else g.append(svg('circle', { r }))
      if (n.peer.raftRole === 'leader') g.append(svg('text', { class: 'crown', y: 4, 'text-anchor': 'middle' }))
      const label = svg('text', { y: r + 12, 'text-anchor': 'middle' })
      label.textContent = n.peer.self ? 'this tab' : `${n.peer.role} ${n.id.slice(-4)}`
      const title = svg('title', {})
      title.textContent = `${n.id}\n${n.peer.role}, ${n.peer.status}, raft ${n.peer.raftRole}, ${n.peer.agents} agents`
      g.append(label, title)
      const crown = g.querySelector('.crown')
      if (crown != null) crown.textContent = '★'
      return g
    })
    this.nodeLayer.replaceChildren(...groups)
  }
}
