/** The peer table, the Raft group, the agents table, alerts and partition status. */
import type { AgentRow, MeshModel } from './model.ts'
import { $, cell, el, short } from './dom.ts'

export function renderPeers (model: MeshModel): void {
  const rows = model.peers.map(p => {
    const tr = el('tr', { 'data-peer': p.peerId, class: p.self ? 'self' : '' })
    tr.append(
      cell(short(p.peerId) + (p.self ? ' (this tab)' : ''), 'id', p.peerId),
      cell(p.role),
      cell(p.status + (p.hidden ? ' (hidden)' : ''), p.status),
      cell(p.health, p.health),
      cell(`${p.raftRole}${p.raftCandidate !== 'none' ? ` / ${p.raftCandidate}` : ''}`, p.raftRole === 'leader' ? 'leader' : ''),
      cell(String(p.agents)),
      cell(`${p.lagMs} ms`),
      cell(p.memoryMb > 0 ? `${p.memoryMb} MB` : '–')
    )
    return tr
  })
  $('#peers tbody').replaceChildren(...rows)
  const alive = model.peers.filter(p => !p.self && p.status === 'alive').length
  const status = $('#status')
  status.textContent = alive > 0 ? `${alive + 1} peers` : 'alone'
  status.className = alive > 0 ? 'pill ok' : 'pill'
}

export function renderRaft (model: MeshModel): void {
  const r = model.raft
  const box = $('#raft')
  if (r == null) {
    box.replaceChildren(el('p', { class: 'muted' }, 'no Raft group seen yet'))
    return
  }
  const dl = el('dl', { class: 'kv' })
  const add = (k: string, v: string, title = ''): void => {
    const dd = el('dd', {}, v)
    if (title !== '') dd.title = title
    dl.append(el('dt', {}, k), dd)
  }
  add('term', String(r.term))
  add('leader', r.leader != null ? short(r.leader) + (r.leader === model.self ? ' (this tab)' : '') : 'none', r.leader ?? '')
  add('commit index', String(r.commitIndex))
  add('applied index', String(r.appliedIndex))
  add('voters', r.voters.map(short).join(', ') || '–', r.voters.join('\n'))
  add('learners', r.learners.length > 0 ? r.learners.map(short).join(', ') : '–', r.learners.join('\n'))
  add('as seen by', short(r.from), r.from)
  box.replaceChildren(dl)
}

function peerName (model: MeshModel, id: string): string {
  const p = model.peers.find(x => x.peerId === id)
  if (id === model.self) return 'this tab'
  return p != null ? `${p.role} ${short(id)}` : short(id)
}

export function renderAgents (model: MeshModel, moved: Map<string, { from: string, at: number }>): void {
  const now = Date.now()
  const rows = model.agents.map((a: AgentRow) => {
    const m = moved.get(a.id)
    const recent = m != null && now - m.at < 10_000
    const tr = el('tr', { 'data-agent': a.id, 'data-node': a.node, class: recent ? 'moved' : '' })
    tr.append(
      cell(a.id, 'id'),
      cell(a.kind),
      cell(peerName(model, a.node) + (recent ? `  ← ${peerName(model, m.from)}` : ''), a.node === model.self ? 'self' : '', a.node),
      cell(String(a.epoch)),
      cell(a.status, a.status)
    )
    return tr
  })
  $('#agents tbody').replaceChildren(...rows)
  $('#agents-empty').hidden = rows.length > 0
}

/** "node abc", or "3 peers (node abc, tab def, …)" when the whole mesh raises it. */
function alertPeers (model: MeshModel, peers: string[]): string {
  if (peers.length === 1) return peerName(model, peers[0])
  const named = peers.slice(0, 3).map(p => peerName(model, p)).join(', ')
  return `${peers.length} peers (${named}${peers.length > 3 ? ', …' : ''})`
}

export function renderAlerts (model: MeshModel): void {
  const items = model.alerts
    .slice(0, 30)
    .map(a => el('li', { class: a.severity },
      el('strong', {}, a.name), ` on ${alertPeers(model, a.peers)}: ${a.message} `,
      el('span', { class: 'muted' }, new Date(a.firedAt).toLocaleTimeString())))
  $('#alerts').replaceChildren(...(items.length > 0 ? items : [el('li', { class: 'muted' }, 'no active alerts')]))
  const p = model.partition
  const pill = $('#partition')
  pill.hidden = p == null
  if (p != null) {
    pill.textContent = !p.partitioned
      ? `no partition: ${p.reachable} peers in reach`
      : `partitioned: ${p.reachable} peers in reach, ${p.majority ? 'majority side' : 'minority side (no strong writes here)'}`
    pill.className = !p.partitioned ? 'pill ok' : p.majority ? 'pill warn' : 'pill err'
  }
}
