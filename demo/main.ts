/**
 * The dashboard: this tab becomes a mesh peer (window.mesh) and shows the whole mesh as it sees
 * it, refreshed every second. Each panel lives in its own module; this file wires them.
 */
import { createNode, type MeshNode } from '../src/node.ts'
import { loadPageConfig, type PageConfig } from './bootstrap.ts'
import { buildModel, type MeshModel } from './model.ts'
import { $, bindAction } from './dom.ts'
import { TopologyGraph } from './topology.ts'
import { renderAgents, renderAlerts, renderPeers, renderRaft } from './tables.ts'
import { Charts } from './charts.ts'
import { renderTraces } from './traces.ts'
import { Controls } from './controls.ts'
import { JobPanel } from './job.ts'
import { renderSelfTest, runSelfTest } from './doctor.ts'

declare global {
  interface Window {
    mesh?: MeshNode
    meshError?: string
    /** the model the dashboard last drew (for automation and the end-to-end test) */
    meshModel?: MeshModel
  }
}

const REFRESH_MS = 1000

function startDashboard (node: MeshNode): void {
  const topology = new TopologyGraph($('#topology'))
  const charts = new Charts($('#chart-rate'), $('#chart-latency'))
  const job = new JobPanel(node)
  const moved = new Map<string, { from: string, at: number }>()
  const lastNode = new Map<string, string>()
  let busy = false
  const refresh = (): void => {
    if (busy) return
    busy = true
    let model: MeshModel
    try {
      model = buildModel(node)
      for (const a of model.agents) {
        const before = lastNode.get(a.id)
        if (before != null && before !== a.node) moved.set(a.id, { from: before, at: Date.now() })
        lastNode.set(a.id, a.node)
      }
      renderPeers(model)
      topology.update(model)
      renderRaft(model)
      renderAgents(model, moved)
      renderAlerts(model)
      controls.update(model)
      job.update(model)
      renderTraces(node, $('#traces'), ($('#trace-filter') as HTMLInputElement).value.trim())
      window.meshModel = model
    } catch (err) {
      // one panel failing must not stop the others' next refresh
      busy = false
      throw err
    }
    node.monitoring.metricsSnapshot()
      .then(own => { charts.update(model.snapshots, own, Date.now()) })
      .catch(() => { /* a stopped peer has no metrics: the charts keep their last points */ })
      .finally(() => { busy = false })
  }
  /** the dashboard stops drawing: a stopped peer keeps its last picture (and its 'stopped' pill) */
  const halt = (): void => {
    clearInterval(timer)
    topology.stop()
    job.stop()
  }
  const controls = new Controls(node, refresh, halt)
  const timer = setInterval(refresh, REFRESH_MS)
  refresh()
  window.addEventListener('pagehide', () => {
    halt()
    void node.stop()
  })
}

function bindSelfTest (config: () => PageConfig | undefined): void {
  bindAction($('#doctor-go') as HTMLButtonElement, $('#doctor-out'), async () => {
    const results = await runSelfTest(window.mesh, config()?.relay ?? [])
    renderSelfTest($('#doctor-results'), results)
    const failed = results.filter(r => !r.ok).length
    return failed === 0 ? 'all checks passed' : `${failed} check(s) failed`
  })
}

async function main (): Promise<void> {
  let config: PageConfig | undefined
  bindSelfTest(() => config)
  config = await loadPageConfig()
  const node = await createNode({ mesh: config.mesh, bootstrap: config.relay })
  window.mesh = node
  $('#self').textContent = node.peerId
  startDashboard(node)
}

main().catch((err: unknown) => {
  const e = err as { stack?: string, message?: string }
  window.meshError = String(e?.stack ?? err)
  $('#status').textContent = 'error'
  $('#status').className = 'pill err'
  $('#self').textContent = `${String(e?.message ?? err)} (run the connectivity self-test below)`
})
