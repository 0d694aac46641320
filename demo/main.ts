/** The demo page: this tab becomes a mesh peer (window.mesh) and shows the mesh as it sees it. */
import { createNode, type MeshNode } from '../src/node.ts'
import { loadPageConfig } from './bootstrap.ts'

declare global {
  interface Window { mesh?: MeshNode, meshError?: string }
}

const $ = (sel: string): HTMLElement => document.querySelector(sel) as HTMLElement
const short = (id: string): string => id.length > 14 ? `${id.slice(0, 6)}…${id.slice(-6)}` : id

function cell (text: string, cls = ''): HTMLTableCellElement {
  const td = document.createElement('td')
  td.textContent = text
  if (cls !== '') td.className = cls
  return td
}

function render (node: MeshNode): void {
  const self = node.network.localRecord()
  const rows: HTMLTableRowElement[] = []
  const all = [{ peerId: node.peerId, status: 'self', record: self }, ...node.network.members()]
  for (const m of all) {
    const tr = document.createElement('tr')
    if (m.status === 'self') tr.className = 'self'
    tr.append(
      cell(short(m.peerId) + (m.status === 'self' ? ' (this tab)' : ''), 'id'),
      cell(m.record.role),
      cell(m.status === 'self' ? 'alive' : m.status, m.status === 'self' ? 'alive' : m.status),
      cell(m.record.raft),
      cell(String(m.record.load.agents)),
      cell(`${m.record.load.eventLoopLagMs} ms`),
      cell(m.record.load.rssMb > 0 ? `${m.record.load.rssMb} MB` : '–')
    )
    rows.push(tr)
  }
  $('#peers tbody').replaceChildren(...rows)
  const links = node.network.getTopology().edges.map(e => {
    const tr = document.createElement('tr')
    tr.append(cell(short(e.from), 'id'), cell(short(e.to), 'id'), cell(e.transport, e.transport))
    return tr
  })
  $('#links tbody').replaceChildren(...links)
  const alive = node.network.aliveMembers().length
  $('#status').textContent = alive > 0 ? `${alive} peers` : 'alone'
  $('#status').className = alive > 0 ? 'pill ok' : 'pill'
}

async function main (): Promise<void> {
  const config = await loadPageConfig()
  const node = await createNode({ mesh: config.mesh, bootstrap: config.relay })
  window.mesh = node
  $('#self').textContent = node.peerId
  render(node)
  setInterval(() => { render(node) }, 1000)
  document.addEventListener('visibilitychange', () => { node.network.setHidden(document.visibilityState === 'hidden') })
  window.addEventListener('pagehide', () => { void node.stop() })
}

main().catch(err => {
  window.meshError = String(err?.stack ?? err)
  $('#status').textContent = 'error'
  $('#self').textContent = String(err?.message ?? err)
})
