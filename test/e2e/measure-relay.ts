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
import { spawnSync, execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startProcess } from '../helpers/processes.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SECONDS = Number(process.argv[2] ?? 30)

if (process.getuid?.() === 0 && process.env.AGENTMESH_NETNS !== '1') {
  const self = fileURLToPath(import.meta.url)
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" ${process.execArgv.map(a => `'${a}'`).join(' ')} "${self}" ${SECONDS}`],
    { stdio: 'inherit', cwd: ROOT, env: { ...process.env, AGENTMESH_NETNS: '1' } })
  process.exit(r.status ?? 1)
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())
const cpuTicks = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
}

const data = mkdtempSync(join(tmpdir(), 'agentmesh-measure-'))
const start = await startProcess(['start', '--data', data, '--nodes', '2', '--port', '0', '--demo-port', '0'], { readyTimeoutMs: 120_000 })
const { chromium } = await import('playwright-core')
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection']
})
try {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
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
  const c0 = cpuTicks(relayPid)
  const n0 = nodePids.map(cpuTicks)
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
  const cpu = (cpuTicks(relayPid) - c0) / CLK_TCK / wall
  const nodeCpu = nodePids.map((pid, i) => (cpuTicks(pid) - n0[i]) / CLK_TCK / wall)
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
  await browser.close().catch(() => {})
  await start.stop()
  rmSync(data, { recursive: true, force: true })
}
