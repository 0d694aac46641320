import { MonitoringSystem, selectSeries } from '../../src/monitoring/index.ts'
import type { Labels } from '../../src/monitoring/index.ts'

/** a real MonitoringSystem (no event loop sampler) to count metrics into */
export function testTelemetry (): MonitoringSystem {
  return new MonitoringSystem({ peerId: 'test-peer', eventLoop: false })
}

/** the summed value of a counter/gauge's series matching `labels` */
export async function metricValue (mon: MonitoringSystem, name: string, labels: Labels = {}): Promise<number> {
  const snap = await mon.metricsSnapshot()
  const strLabels = Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]))
  return selectSeries(snap, { name, labels: strLabels }).reduce((sum, s) => sum + s.value, 0)
}

/** lets every pending promise callback run (no timers involved) */
export async function flush (rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>(resolve => setImmediate(resolve))
}

/** polls `cond` until true, or throws after `ms` */
export async function waitFor (cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
