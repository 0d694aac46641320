/**
 * npm run bench -- network
 *
 * 1. Time to full membership for 3, 10 and 30 Node peers (separate processes started with the CLI,
 *    bootstrapping through one relay): from the last peer's ready line until every peer lists all
 *    others alive.
 * 2. Crash detection: SIGKILL of a peer -> `node:failed` on an observer peer (this process).
 * 3. Pause detection: SIGSTOP -> `node:failed`; SIGCONT -> `node:recovered`.
 * 4. Tab<->tab WebRTC link time after page load, in Debian's Chromium.
 * Baseline named by the issue: the targets (crash < 1 s, pause < 3 s, default settings).
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { startProcess, getJson, waitUntil, type PeerProcess } from '../test/helpers/processes.ts'
import { createNode } from '../src/node.ts'
import { fmt, median, percentile, table } from './_stats.ts'

const quick = process.argv.includes('--quick')
const SIZES = quick ? [3, 10] : [3, 10, 30]
const TRIALS = quick ? 3 : 10

async function membershipTime (n: number): Promise<{ fromLaunch: number, fromLastReady: number } | { failed: string }> {
  const mesh = `bench-m${n}`
  const relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', mesh])
  const launched = performance.now()
  const peers: PeerProcess[] = []
  try {
    // in batches: 30 processes loading at once on 2 cores would measure start-up, not membership
    for (let i = 0; i < n; i += 5) {
      peers.push(...await Promise.all(Array.from({ length: Math.min(5, n - i) }, async () =>
        await startProcess(['node', '--bootstrap', relay.ready.multiaddrs.join(','), '--http-port', '0', '--mesh', mesh], { readyTimeoutMs: 120_000 }))))
    }
    const lastReady = performance.now()
    // poll every 100 ms, not faster: 31 peers answering HTTP in a tight loop would load the
    // machine we are measuring
    const deadline = performance.now() + 120_000
    for (;;) {
      const views = await Promise.all([relay, ...peers].map(async p => await getJson<Array<{ status: string }>>(p, '/nodes').catch(() => [])))
      if (views.every(v => v.filter(m => m.status === 'alive').length === n)) break
      if (performance.now() > deadline) {
        const alive = views.map(v => v.filter(m => m.status === 'alive').length)
        return { failed: `no simultaneous full membership within 120 s (alive counts seen: min ${Math.min(...alive)}, max ${Math.max(...alive)} of ${n})` }
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const done = performance.now()
    return { fromLaunch: done - launched, fromLastReady: done - lastReady }
  } finally {
    await Promise.all([relay, ...peers].map(async p => await p.stop()))
  }
}

async function detectionTimes (): Promise<{ crash: number[], pause: number[], resume: number[] }> {
  const mesh = 'bench-detect'
  const relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', mesh])
  const boot = relay.ready.multiaddrs.filter(a => a.includes('/ws/'))
  const observer = await createNode({ mesh, bootstrap: boot })
  const crash: number[] = []; const pause: number[] = []; const resume: number[] = []
  const others: PeerProcess[] = []
  try {
    others.push(...await Promise.all([0, 1].map(async () => await startProcess(['node', '--bootstrap', boot.join(','), '--http-port', '0', '--mesh', mesh]))))
    const waitEvent = async (name: 'node:failed' | 'node:recovered', peerId: string): Promise<number> => await new Promise(resolve => {
      const on = (e: CustomEvent<{ peerId: string }>): void => {
        if (e.detail.peerId !== peerId) return
        observer.network.removeEventListener(name, on as any)
        resolve(performance.now())
      }
      observer.network.addEventListener(name, on as any)
    })
    for (let i = 0; i < TRIALS; i++) {
      for (const kind of ['crash', 'pause'] as const) {
        const victim = await startProcess(['node', '--bootstrap', boot.join(','), '--http-port', '0', '--mesh', mesh])
        await waitUntil(async () => observer.network.member(victim.ready.peerId)?.status === 'alive', 20_000, 'victim to join')
        // let a few heartbeats pass so the victim is in a steady state
        await new Promise(resolve => setTimeout(resolve, 700))
        const failed = waitEvent('node:failed', victim.ready.peerId)
        const t0 = performance.now()
        victim.kill(kind === 'crash' ? 'SIGKILL' : 'SIGSTOP')
        const tFailed = await failed
        ;(kind === 'crash' ? crash : pause).push(tFailed - t0)
        if (kind === 'pause') {
          const recovered = waitEvent('node:recovered', victim.ready.peerId)
          const t1 = performance.now()
          victim.kill('SIGCONT')
          resume.push(await recovered - t1)
        }
        await victim.stop()
      }
    }
    return { crash, pause, resume }
  } finally {
    await observer.stop()
    await Promise.all([relay, ...others].map(async p => await p.stop()))
  }
}

/** two tabs on a page that joins the mesh: time from navigation start to a direct WebRTC link */
async function tabLinkTimes (): Promise<number[]> {
  const { chromium } = await import('playwright-core')
  const { build } = await import('esbuild')
  const root = fileURLToPath(new URL('..', import.meta.url))
  const dir = mkdtempSync(join(tmpdir(), 'agentmesh-bench-'))
  await build({
    entryPoints: [join(root, 'test/browser/peer-tab.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    conditions: ['agentmesh-source', 'browser'], outdir: dir, logLevel: 'warning', define: { 'process.env.NODE_DEBUG': 'undefined', global: 'globalThis' }
  })
  writeFileSync(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><script type="module" src="./peer-tab.js"></script>')
  const server = createServer((req, res) => {
    const file = (req.url ?? '/').startsWith('/peer-tab.js') ? 'peer-tab.js' : 'index.html'
    readFile(join(dir, file)).then(b => { res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' }); res.end(b) }, () => { res.writeHead(404); res.end() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const mesh = 'bench-tabs'
  const relay = await startProcess(['relay', '--port', '0', '--http-port', '0', '--mesh', mesh])
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection']
  })
  const times: number[] = []
  try {
    for (let i = 0; i < TRIALS; i++) {
      const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
      const url = `http://127.0.0.1:${port}/?relay=${encodeURIComponent(relay.ready.multiaddrs.find(a => a.includes('/ws/'))!)}&mesh=${mesh}`
      const [a, b] = [await context.newPage(), await context.newPage()]
      await Promise.all([a.goto(url), b.goto(url)])
      await a.waitForFunction(() => (window as any).mesh != null, undefined, { timeout: 30_000 })
      await b.waitForFunction(() => (window as any).mesh != null, undefined, { timeout: 30_000 })
      const bId = await b.evaluate(() => (window as any).mesh.peerId)
      const ms = await a.evaluate(async (other: string) => {
        const node = (window as any).mesh
        while (!node.libp2p.getConnections().some((c: any) => c.remotePeer.toString() === other && c.remoteAddr.toString().includes('/webrtc') && !c.remoteAddr.toString().includes('/p2p-circuit/p2p'))) {
          await new Promise(resolve => setTimeout(resolve, 5))
        }
        return performance.now() // since this page's navigation start
      }, bId)
      times.push(ms)
      await a.evaluate(async () => await (window as any).mesh.stop())
      await b.evaluate(async () => await (window as any).mesh.stop())
      await context.close()
    }
  } finally {
    await browser.close()
    await relay.stop()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  }
  return times
}

console.log('membership convergence (separate processes, one relay)')
const rows: Array<Array<string | number>> = []
for (const n of SIZES) {
  const r = await membershipTime(n)
  rows.push('failed' in r ? [n, r.failed, ''] : [n, fmt(r.fromLastReady), fmt(r.fromLaunch)])
}
table(['peers', 'full membership after last ready (ms)', 'from launch (ms)'], rows)

console.log(`\nfailure detection, ${TRIALS} trials each (observer: an in-process peer)`)
const d = await detectionTimes()
table(['event', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'target'], [
  ['SIGKILL -> failed', fmt(median(d.crash)), fmt(percentile(d.crash, 99)), fmt(Math.max(...d.crash)), '< 1000'],
  ['SIGSTOP -> failed', fmt(median(d.pause)), fmt(percentile(d.pause, 99)), fmt(Math.max(...d.pause)), '< 3000'],
  ['SIGCONT -> recovered', fmt(median(d.resume)), fmt(percentile(d.resume, 99)), fmt(Math.max(...d.resume)), '']
])

console.log(`\ntab <-> tab WebRTC link, ${TRIALS} trials (ms after navigation start; loopback)`)
try {
  const t = await tabLinkTimes()
  table(['', 'p50 (ms)', 'p99 (ms)', 'max (ms)'], [['page load -> direct webrtc link', fmt(median(t)), fmt(percentile(t, 99)), fmt(Math.max(...t))]])
} catch (err) {
  console.log(`  skipped: ${(err as Error).message}`)
}
process.exit(0)
