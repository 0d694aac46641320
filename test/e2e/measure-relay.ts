/**
 * How hard three tabs make the relay work (issue 8): the real `agentmesh start --nodes 2`, three
 * Chromium tabs on the demo page, and once every tab sees the others alive, the relay process is
 * sampled for SECONDS seconds: CPU (from /proc, user+system over wall time) and its event-loop lag
 * (the `agentmesh_process_event_loop_lag_seconds` gauge on its /metrics, read every second).
 *
 * Not a test (no file suffix the runner picks up). As root it puts itself in a loopback-only
 * network namespace, like the e2e test. Run:
 *   node --conditions=agentmesh-source --import tsx --import ./test/setup-node.js test/e2e/measure-relay.ts [SECONDS]
 */
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { processCpuMs } from '../helpers/processes.ts'
import { reexecInNamespace, startMeshWithBrowser } from './measure-harness.ts'

const SECONDS = Number(process.argv[2] ?? 30)

reexecInNamespace(fileURLToPath(import.meta.url), [SECONDS])

const { start, context, stop } = await startMeshWithBrowser()
try {
  const ids: string[] = []
  const pages = []
  for (let i = 0; i < 3; i++) {
    const page = await context.newPage()
    await page.goto(start.ready.demo!)
    await page.waitForFunction(() => window.mesh != null, undefined, { timeout: 60_000 })
    ids.push(await page.evaluate(() => window.mesh!.peerId))
    pages.push(page)
  }
  for (const [i, page] of pages.entries()) {
    await page.waitForFunction((others) => others.every(id => window.mesh!.network.member(id)?.status === 'alive'), ids.filter((_, j) => j !== i), { timeout: 60_000, polling: 250 })
  }
  // the relay is the child of `agentmesh start` that runs `relay`
  const relayPid = Number(execFileSync('pgrep', ['-P', String(start.proc.pid), '-f', 'agentmesh.js relay']).toString().trim().split('\n')[0])
  const nodePids = execFileSync('pgrep', ['-P', String(start.proc.pid), '-f', 'agentmesh.js node']).toString().trim().split('\n').map(Number)
  const metricsUrl = start.ready.http + '/metrics'
  const lags: number[] = []
  const answers: number[] = []
  const t0 = performance.now()
  const cpuMs = (pid: number): number => processCpuMs(pid) ?? 0
  const c0 = cpuMs(relayPid)
  const n0 = nodePids.map(cpuMs)
  const load0 = loadavg()[0]
  while (performance.now() - t0 < SECONDS * 1000) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    const asked = performance.now()
    try {
      const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text()
      answers.push(performance.now() - asked)
      const m = /^agentmesh_process_event_loop_lag_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text)
      if (m != null) lags.push(Number(m[1]) * 1000)
    } catch {
      answers.push(performance.now() - asked)
    }
  }
  const wall = (performance.now() - t0) / 1000
  const cpu = (cpuMs(relayPid) - c0) / 1000 / wall
  const nodeCpu = nodePids.map((pid, i) => (cpuMs(pid) - n0[i]) / 1000 / wall)
  const summary = (xs: number[]): Record<string, number> => {
    const s = [...xs].sort((a, b) => a - b)
    const pct = (p: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN)
    return { samples: s.length, p50: pct(0.5), p90: pct(0.9), max: Math.round(s[s.length - 1] ?? NaN) }
  }
  console.log(JSON.stringify({
    seconds: Math.round(wall),
    relayCpuPercent: Math.round(cpu * 1000) / 10,
    nodeCpuPercent: nodeCpu.map(c => Math.round(c * 1000) / 10),
    relayLagMs: summary(lags),
    relayMetricsAnswerMs: summary(answers),
    load1: [Math.round(load0 * 100) / 100, Math.round(loadavg()[0] * 100) / 100]
  }))
} finally {
  await stop()
}
