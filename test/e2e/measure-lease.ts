/**
 * Where a tab's node-lease proposals spend their time (issue 8): the real `agentmesh start --nodes
 * 2`, three Chromium tabs on the demo page, and for SECONDS seconds every Raft proposal a tab makes
 * (its lease grant and keepalives) is followed through the tab's own Raft driver:
 *
 *   queued   the caller asked (PendingProposals.add)
 *   sent     the forwarded MsgProp left through the tab's Raft transport      (tab's loop)
 *   entry    the leader's MsgApp carrying the entry reached the tab           (net + leader append)
 *   commit   a message whose commit index covers the entry reached the tab    (leader commit + net)
 *   applied  the tab applied it and the caller got its answer                 (tab's loop)
 *
 * Besides: each tab's timer lateness (a 50 ms interval: how late it fires; a background or
 * occluded page's timers are throttled to 1/s), its visibility, and how many renderer processes
 * Chromium runs. Not a test. As root it puts itself in a loopback-only network namespace. Run:
 *   node --conditions=agentmesh-source --import tsx --import ./test/setup-node.js test/e2e/measure-lease.ts [SECONDS] [TABS]
 */
import { readFileSync, readdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { processCpuMs } from '../helpers/processes.ts'
import { reexecInNamespace, startMeshWithBrowser } from './measure-harness.ts'

const cmdline = (pid: number): string => {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ') } catch { return '' }
}
/** every process below `root` (by /proc's parent links) */
const descendants = (root: number): number[] => {
  const parent = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try { parent.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1].split(' ')[1])) } catch {}
  }
  const out: number[] = []
  const walk = (p: number): void => { for (const [c, pp] of parent) if (pp === p) { out.push(c); walk(c) } }
  walk(root)
  return out
}
const SECONDS = Number(process.argv[2] ?? 40)
const TABS = Number(process.argv[3] ?? 3)

reexecInNamespace(fileURLToPath(import.meta.url), [SECONDS, TABS])

interface Trace { id: string, type: number, queued: number, sent?: number, entry?: number, index?: number, commit?: number, applied?: number }
interface TabReport { traces: Trace[], lateMs: number[], visibility: string, hidden: boolean, focus: boolean, role: string, lease: string }

declare global {
  interface Window { __leaseTrace?: { traces: Map<string, Trace>, late: number[] } }
}

/** hooks the tab's Raft driver and transport (private fields, reached at run time) */
async function instrument (page: Page): Promise<void> {
  await page.evaluate(() => {
    const now = (): number => performance.timeOrigin + performance.now()
    const c = window.mesh!.consensus as unknown as Record<string, any>
    const drv = c.driverRef
    const tr = c.transport
    const reqs = drv.requests
    const prefix: string = reqs.requestPrefix
    const traces = new Map<string, Trace>()
    const late: number[] = []
    window.__leaseTrace = { traces, late }
    const idPattern = new RegExp(prefix.replace(/\./g, '\\.') + '[0-9a-z]+')
    const idsIn = (data: Uint8Array): string | undefined => {
      let s = ''
      for (let i = 0; i < data.length; i++) s += String.fromCharCode(data[i])
      return idPattern.exec(s)?.[0]
    }
    const add = reqs.proposals.add.bind(reqs.proposals)
    reqs.proposals.add = (w: { requestId: string, data: Uint8Array }) => {
      traces.set(w.requestId, { id: w.requestId, type: w.data[1], queued: now() })
      add(w)
    }
    const send = tr.send.bind(tr)
    tr.send = (to: string, msgs: Array<{ type: number, entries: Array<{ data: Uint8Array }> }>) => {
      const t = now()
      for (const m of msgs) {
        if (m.type !== 2) continue
        for (const e of m.entries) {
          const id = idsIn(e.data)
          const tr = id !== undefined ? traces.get(id) : undefined
          if (tr !== undefined && tr.sent === undefined) tr.sent = t
        }
      }
      send(to, msgs)
    }
    const receive = drv.receive.bind(drv)
    drv.receive = (m: { type: number, commit: number, entries: Array<{ data: Uint8Array, index: number }> }, g: string) => {
      const t = now()
      if (m.type === 3) {
        for (const e of m.entries) {
          const id = idsIn(e.data)
          const tr = id !== undefined ? traces.get(id) : undefined
          if (tr !== undefined && tr.entry === undefined) { tr.entry = t; tr.index = e.index }
        }
      }
      if (m.type === 3 || m.type === 11) {
        for (const tr of traces.values()) if (tr.index !== undefined && tr.commit === undefined && m.commit >= tr.index) tr.commit = t
      }
      receive(m, g)
    }
    const applied = reqs.applied.bind(reqs)
    reqs.applied = (id: string, r: unknown) => {
      const tr = traces.get(id)
      if (tr !== undefined && tr.applied === undefined) tr.applied = now()
      applied(id, r)
    }
    let last = performance.now()
    setInterval(() => {
      const t = performance.now()
      late.push(t - last - 50)
      last = t
    }, 50)
  })
}

async function report (page: Page): Promise<TabReport> {
  return await page.evaluate(() => {
    const m = window.mesh!
    return {
      traces: [...window.__leaseTrace!.traces.values()],
      lateMs: window.__leaseTrace!.late,
      visibility: document.visibilityState,
      hidden: document.hidden,
      focus: document.hasFocus(),
      role: m.consensus.status().role,
      lease: `${m.agents.lease.id} ${m.agents.lease.valid() ? 'valid' : 'not valid'}`
    }
  })
}

const summary = (xs: number[]): string => {
  if (xs.length === 0) return 'none'
  const s = [...xs].sort((a, b) => a - b)
  const pct = (p: number): number => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))])
  return `n=${s.length} p50=${pct(0.5)} p90=${pct(0.9)} p99=${pct(0.99)} max=${Math.round(s[s.length - 1])}`
}

const { start, context, stop } = await startMeshWithBrowser()
try {
  // tsx keeps function names with a helper the page does not have
  await context.addInitScript('window.__name = (f) => f')
  const pages: Page[] = []
  const load0 = loadavg()[0]
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage()
    await page.goto(start.ready.demo!)
    await page.waitForFunction(() => window.mesh != null, undefined, { timeout: 60_000 })
    await instrument(page)
    pages.push(page)
  }
  const renderers = descendants(process.pid).filter(pid => cmdline(pid).includes('--type=renderer')).length
  const t0 = Date.now()
  // once a second, from tab 0: who leads, and every peer's event-loop lag as its record says
  const lagsByPeer = new Map<string, number[]>()
  const leaders: string[] = []
  // this run's processes only (other people's peers and browsers run on the same machine)
  const mine = descendants(process.pid)
  const procs = (pattern: RegExp): number[] => mine.filter(pid => pattern.test(cmdline(pid)))
  const watched = [...procs(/agentmesh\.js relay/).map(pid => ({ name: 'relay', pid })), ...procs(/agentmesh\.js node/).map(pid => ({ name: 'node', pid })),
    ...procs(/--type=renderer/).map(pid => ({ name: 'renderer', pid })), ...procs(/--type=(gpu|utility)/).map(pid => ({ name: 'chromium-other', pid }))]
  const cpuMs = (pid: number): number => processCpuMs(pid) ?? 0
  const cpu0 = watched.map(w => cpuMs(w.pid))
  while (Date.now() - t0 < SECONDS * 1000) {
    await new Promise(resolve => setTimeout(resolve, 1000))
    const s = await pages[0].evaluate(() => {
      const m = window.mesh!
      return { leader: m.consensus.status().leader ?? '', peers: m.network.members().map(p => ({ id: p.peerId, role: p.record.role, lag: p.record.load.eventLoopLagMs })) }
    }).catch(() => undefined)
    if (s === undefined) continue
    if (leaders[leaders.length - 1] !== s.leader) leaders.push(s.leader)
    for (const p of s.peers) {
      const key = `${p.role}:${p.id.slice(-6)}`
      lagsByPeer.set(key, [...(lagsByPeer.get(key) ?? []), p.lag])
    }
  }
  const wall = (Date.now() - t0) / 1000
  const cpuPct = watched.map((w, i) => `${w.name}:${w.pid} ${Math.round((cpuMs(w.pid) - cpu0[i]) / 1000 / wall * 100)}%`)
  const reports = await Promise.all(pages.map(report))
  const consensus = await (await fetch(start.ready.http + '/consensus')).json() as { leader: string | null, term: number, voters: string[] }
  console.log(`load1 ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}; ${renderers} renderer processes; ${SECONDS} s; term ${consensus.term} leader ${consensus.leader?.slice(-6) ?? 'none'}, voters ${consensus.voters.map(v => v.slice(-6)).join(' ')}`)
  console.log(`leaders seen by tab 0: ${leaders.map(l => l === '' ? 'none' : l.slice(-6)).join(' -> ')}`)
  console.log(`cpu over the window: ${cpuPct.join(', ')}`)
  for (const [k, v] of lagsByPeer) console.log(`  ${k} event-loop lag (record, ms): ${summary(v)}`)
  for (const [i, r] of reports.entries()) {
    const done = r.traces.filter(t => t.applied !== undefined)
    const open = r.traces.filter(t => t.applied === undefined && t.queued < Date.now() - 5000)
    const seg = (a: keyof Trace, b: keyof Trace): number[] => r.traces.filter(t => t[a] !== undefined && t[b] !== undefined).map(t => (t[b] as number) - (t[a] as number))
    console.log(`tab ${i}: ${r.visibility} hidden=${r.hidden} focus=${r.focus} raft ${r.role} lease ${r.lease}; proposals ${r.traces.length} (${done.length} applied, ${open.length} unanswered after 5 s)`)
    console.log(`  timer lateness ms: ${summary(r.lateMs)}`)
    console.log(`  queued->sent     ${summary(seg('queued', 'sent'))}`)
    console.log(`  sent->entry      ${summary(seg('sent', 'entry'))}`)
    console.log(`  entry->commit    ${summary(seg('entry', 'commit'))}`)
    console.log(`  commit->applied  ${summary(seg('commit', 'applied'))}`)
    console.log(`  queued->applied  ${summary(seg('queued', 'applied'))}`)
    const slow = r.traces.filter(t => t.applied === undefined || t.applied - t.queued > 1500).slice(0, 8)
    for (const t of slow) {
      const rel = (x?: number): string => x === undefined ? '-' : String(Math.round(x - t.queued))
      console.log(`    slow ${t.id} type ${t.type} at +${Math.round((t.queued - t0) / 1000)} s: sent ${rel(t.sent)} entry ${rel(t.entry)} commit ${rel(t.commit)} applied ${rel(t.applied)}`)
    }
  }
} finally {
  await stop()
}
