/**
 * A released document takes its metric series with it: a peer that hosts agents for days sees
 * thousands of documents come and go, and a series per document ever held would grow /metrics
 * (and the process) without bound.
 */
import { describe, it, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { Cluster } from './harness.ts'
import { MonitoringSystem } from '../../../src/monitoring/index.ts'
import { createMetricsBackend as browserMetricsBackend } from '../../../src/platform/metrics.browser.ts'

let cluster: Cluster | undefined
let monitoring: MonitoringSystem | undefined
afterEach(async () => {
  await cluster?.stopAll(); cluster = undefined
  await monitoring?.stop(); monitoring = undefined
})

const docSeries = (text: string): string[] => text.split('\n').filter(l => l.startsWith('agentmesh_crdt_doc_bytes{'))

describe('document metrics', () => {
  it('are back to the held documents after 50 documents are opened, written and released', async () => {
    monitoring = new MonitoringSystem({ peerId: 'a', eventLoop: false })
    cluster = await Cluster.create(['a'], { telemetry: monitoring })
    const r = cluster.peer('a').replicator
    const kept = await r.replicateState('kept', { replicas: 0 })
    kept.getMap('m').set('k', 'v')
    for (let i = 0; i < 50; i++) {
      const doc = await r.replicateState(`agent-${i}`, { replicas: 0 })
      doc.getMap('m').set('k', i)
      await r.release(doc)
    }
    const series = docSeries(await monitoring.metricsText())
    assert.equal(series.length, 1, series.join('\n'))
    assert.match(series[0], /doc="kept"/)
  })

  it('a removed series is gone in the browser backend too', async () => {
    const backend = browserMetricsBackend()
    const g = backend.gauge('agentmesh_test_doc_bytes', { help: 'x', labelNames: ['doc'] })
    g.set(1, { doc: 'a' })
    g.set(2, { doc: 'b' })
    g.remove?.({ doc: 'a' })
    const text = await backend.metricsText()
    assert.doesNotMatch(text, /doc="a"/)
    assert.match(text, /agentmesh_test_doc_bytes\{doc="b"\} 2/)
  })
})
