/**
 * End to end, as a user meets it: the real `agentmesh start` (relay + Node peers + the demo page)
 * and three Chromium tabs on the page. The tabs join as peers, link directly over WebRTC, an
 * agent deployed to one tab keeps its state when that tab is closed, and the dashboard of another
 * tab shows it moving. Then, through the dashboards' own controls, the agent is migrated onto a
 * tab and that tab is stopped with its "stop this peer" button: the agent moves again with its
 * state, the other dashboard shows the peer gone and the agent elsewhere, and the stopped tab's
 * page keeps saying 'stopped'. A screenshot goes to test-artifacts/dashboard-e2e.png.
 *
 * As root it runs itself inside a network namespace that has only loopback (as
 * test/run-browser.js does), so the page can reach nothing else and WebRTC's ICE picks loopback.
 *
 * History (issue 8): 7 of 10 runs passed before the first fixes, 19 of 22 after them (the link
 * pool's retry over a fresh connection; a late activate answered by the newer activation; the
 * deploying tab waits to be in the Raft group). The remaining failure, an RPC stream open to the
 * hosting tab timing out on every connection, was a WebRTC connection whose far end had hung up
 * (the other tab gave up its dial half-way): @libp2p/webrtc kept it open until ICE gave up 5-30 s
 * later, and libp2p, preferring a direct connection, opened every new stream on it. Such a
 * connection is now closed as soon as its SCTP/DTLS transport closes (src/network/webrtc-hangup.ts).
 * The next session ran it at load 11-39 (six engineers' work on 2 cores): 1 of 9 runs passed on the
 * tree before its changes, 0 of 15 after them, 101-206 s each. The tabs' whole logs showed libp2p's
 * connection monitor aborting 2-35 healthy tab connections per run (pings past 5 s; tabs now run
 * without it) and relay reservations timing out at 5 s (now 30 s). Where the 23 failed runs
 * stopped: a tab's node-lease grant (each attempt bounded by the lease's 2 s ttl) timing out for
 * 30-60 s while a Raft proposal from a tab took longer, so no tab could host the agent, or the
 * deploy's own 10 s deadline passed (10 runs); no WebRTC link between tabs after 45 s, circuits
 * through the relay resetting (8; 6 of them with a 15 s wait before the second tab dials, since
 * cut to 3 s, after which 6 of 6 runs linked in 15-38 s); tabs marking peers failed on heartbeats
 * 1.5-2.5 s late (2); the RPC to the hosting tab unanswered in 10 s or its circuit dial failing
 * (2); the agents table redrawn faster than waitForSelector settled on its row (1). On the final
 * tree, as the load fell to 9-17, 2 of 3 passed (40 s, 77 s); the third (load 17-26) stopped when
 * the hosting tab's node lease lapsed (NotOwnerError on an increment).
 * Why (test/e2e/measure-lease.ts, load 25-35): a tab's lease renewal took 3-18 s from ask to
 * applied, all of it between the forwarded proposal leaving the tab and the commit coming back (the
 * Node peers' event loops 0.4-3 s behind); the tabs' own part was under 20 ms, and the pages were
 * not throttled (visible, timers < 200 ms late: Playwright turns background throttling off). A tab
 * is a Raft learner, so each renewal crosses the leader, the voters and the leader again: a 2 s lease
 * could not hold. Tabs now hold a 10 s lease renewed every second, and the leader moves a vanished
 * tab's agents once that lease has expired (docs/agents.md, "Node leases" and "Failure recovery"),
 * so the agent answers elsewhere 9-22 s after its tab closes. This session (load 12-36, five
 * engineers' work on 2 cores) 5 of 11 runs passed on that tree (75-164 s), and 0 of 3 on the tree
 * before it, interleaved with three of them at load 23-31 (their tabs' logs held 1-26 lapses of the
 * 2 s lease each). No failed run stopped on a lapsed tab lease any more; they stopped
 * where the whole mesh falls behind at load 25-36 (the Node peers' heartbeats 1.5-2.6 s late, so
 * peers flap failed and 'partitioned'; Raft streams on a connection whose muxer had closed; tabs
 * not made learners, or their 10 s grants timing out, for 60 s: 2 runs), on the RPC to the hosting
 * tab over a circuit through the relay (dial failing or the stream open timing out: 3), or with no
 * WebRTC link between tabs after 45 s (1). As the load fell to 3-9 at the end of the session, 10 of
 * 10 passed in a row (25-53 s each), and 5 of 5 more (27-37 s, load 2-4) on the tree with the
 * probes' ping fix. So it is the last step of `npm test` (`npm run test:e2e`, run alone after the
 * other suites, so no other spec's peers share the machine with it). What it still needs is a
 * machine not loaded by other work: at load 13-36 about half the runs fail on the causes above,
 * which are the mesh's, not the lease's (README, Troubleshooting).
 * Later, on a quiet machine (load 1-2), 1 of 3 runs failed on the deploy itself: NotOwnerError,
 * the agent "no longer placed on" the host under its epoch but on the same host under a newer one.
 * The host had claimed the agent (placed on it, not running) while the deployer's activation was
 * starting there, and that activation failed on the claim's epoch. The host now answers such an
 * activation with the claim's (test/agents/manager.spec.ts); 16 of 16 runs passed after it.
 * The agents and peers tables are redrawn every refresh, so rows are waited for with one in-page
 * check per poll (waitForShown) rather than waitForSelector.
 * A failed run writes the whole output (the tabs' network logs are on) to
 * test-artifacts/dashboard-e2e-output.log and every line the tabs printed (network, node lease,
 * consensus) to test-artifacts/dashboard-e2e-console.log; its message has the inner run's own
 * lines, each step's time (`N s: ...`) and, at a failed step, each tab's links.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startProcess, waitUntil, type PeerProcess } from '../helpers/processes.ts'
import { CHROMIUM_ARGS } from './measure-harness.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOT = join(ROOT, 'test-artifacts', 'dashboard-e2e.png')
const OUTPUT_LOG = join(ROOT, 'test-artifacts', 'dashboard-e2e-output.log')
const CONSOLE_LOG = join(ROOT, 'test-artifacts', 'dashboard-e2e-console.log')

const inNamespace = process.env.AGENTMESH_NETNS === '1'
const canUnshare = process.getuid?.() === 0 && spawnSync('which', ['unshare']).status === 0

/** a port P with P+1 free as well (the relay takes P for WebSockets and P+1 for its admin API) */
async function freePortPair (): Promise<number> {
  const listen = async (port: number): Promise<{ port: number, close: () => Promise<void> } | undefined> => await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => { resolve(undefined) })
    s.listen(port, '127.0.0.1', () => {
      const a = s.address()
      resolve({ port: typeof a === 'object' && a != null ? a.port : port, close: async () => { await new Promise(r => s.close(() => { r(undefined) })) } })
    })
  })
  for (let i = 0; i < 20; i++) {
    const first = await listen(0)
    if (first == null) continue
    const second = first.port < 65535 ? await listen(first.port + 1) : undefined
    await first.close()
    await second?.close()
    if (second != null) return first.port
  }
  throw new Error('no free port pair on 127.0.0.1')
}

/** the environment of the run inside the namespace: a test runner of its own, not a child of ours */
function nestedEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AGENTMESH_NETNS: '1' }
  delete env.NODE_TEST_CONTEXT
  return env
}

/** what a tab's dashboard shows, briefly: for failure messages */
async function describeTab (page: Page): Promise<string> {
  return await page.evaluate(() => {
    const m = window.meshModel
    if (m == null) return `no model (error: ${window.meshError ?? 'none'})`
    return JSON.stringify({ self: m.self, peers: m.peers.map(p => `${p.role}:${p.peerId.slice(-6)}:${p.status}`), edges: m.edges.map(e => `${e.from.slice(-6)}-${e.to.slice(-6)}:${e.transport}`), agents: m.agents.map(a => `${a.id}@${a.node.slice(-6)}`) })
  }).catch((err: unknown) => `unreadable: ${String(err)}`)
}

/**
 * how a tab is linked to a peer and whether each of those connections can open an RPC stream now
 * (a plain dial says little: it returns an open connection when there is one): for failure messages
 */
async function linkReport (page: Page, peerId: string): Promise<string> {
  return await page.evaluate(async (id) => {
    const lp = window.mesh!.network.libp2p
    const conns = await Promise.all(lp.getConnections().filter(c => c.remotePeer.toString() === id).map(async c => {
      const started = performance.now()
      let open: string
      try {
        const s = await c.newStream('/agentmesh/rpc/2.0.0', { signal: AbortSignal.timeout(5000), runOnLimitedConnection: true })
        open = `opens an RPC stream in ${Math.round(performance.now() - started)} ms`
        s.abort(new Error('probe only'))
      } catch (err) {
        open = `cannot open an RPC stream: ${(err as Error).name}: ${(err as Error).message}`
      }
      return `${c.remoteAddr.toString()} ${c.direction} ${c.status}${c.limits != null ? ' (limited)' : ''}, ${c.streams.length} streams, ${open}`
    }))
    const peer = (await lp.peerStore.all()).find(p => p.id.toString() === id)
    return `tab ${lp.peerId.toString().slice(-6)} -> ${id.slice(-6)}: connections\n      ${conns.join('\n      ') || 'none'}\n    addresses known: ${peer?.addresses.map(a => a.multiaddr.toString()).join(', ') ?? 'none'}`
  }, peerId).catch((err: unknown) => `unreadable: ${String(err)}`)
}

/** whether a tab may host agents, and what stops it: for failure messages */
async function hostReport (page: Page): Promise<string> {
  return await page.evaluate(() => {
    const m = window.mesh!
    // clockSkewStatus: not in every version of the network layer
    const skew = (m.network as { clockSkewStatus?: () => unknown }).clockSkewStatus?.() ?? 'unknown'
    return `tab ${m.peerId.slice(-6)}: raft ${m.consensus.status().role}, node lease ${m.agents.lease.id} ${m.agents.lease.valid() ? 'valid' : 'not valid'}, clock ${JSON.stringify(skew)}`
  }).catch((err: unknown) => `unreadable: ${String(err)}`)
}

/**
 * waits until the page shows (or no longer shows) an element matching `selector`, checked in one
 * go inside the page every 100 ms: the tables are redrawn every refresh, and a row found by
 * waitForSelector could be replaced before its visibility was settled
 */
async function waitForShown (page: Page, selector: string, timeoutMs: number, shown = true): Promise<void> {
  await page.waitForFunction(([sel, want]) => (document.querySelector(sel) != null) === want, [selector, shown] as const, { timeout: timeoutMs, polling: 100 })
}

/**
 * presses a dashboard control's button as a user would (again after a timeout or a refusal on
 * the minority side, up to `tries` times: a migrate that timed out may have been done, and doing
 * it again is then a no-op) and
 * returns what the control printed once it succeeded
 */
async function clickUntilDone (page: Page, control: string, prepare: () => Promise<void>, tries = 3): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await prepare()
    await page.click(`#${control}-go`)
    // the button is disabled while the action runs
    await page.waitForFunction((c) => !(document.querySelector(`#${c}-go`) as HTMLButtonElement).disabled, control, { timeout: 45_000, polling: 100 })
    const out = page.locator(`#${control}-out`)
    const text = await out.textContent() ?? ''
    if ((await out.getAttribute('class'))?.includes('ok') === true) return text
    if (!/^(TimeoutError|NoQuorumError)/.test(text) || attempt >= tries) throw new Error(`the ${control} control failed: ${text}`)
    // pressed again once the header no longer reports a partition
    await page.waitForFunction(() => !window.mesh!.network.partitionStatus().partitioned, undefined, { timeout: 20_000, polling: 250 }).catch(() => {})
  }
}

if (canUnshare && !inNamespace) {
  describe('dashboard end to end', () => {
    it('passes inside a loopback-only network namespace', { timeout: 240_000 }, async (t) => {
      const child = spawn('unshare', ['-n', '--', 'sh', '-c',
        `ip link set lo up && exec "${process.execPath}" --conditions=agentmesh-source --import tsx --import ./test/setup-node.js --test --test-reporter=spec "${SELF}"`],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: nestedEnv() })
      let output = ''
      child.stdout.on('data', (d: Buffer) => { output += d.toString() })
      child.stderr.on('data', (d: Buffer) => { output += d.toString() })
      const code = await new Promise<number | null>(resolve => child.once('exit', resolve))
      if (code !== 0) {
        // the tabs' debug lines drown the failure: the whole output goes to a file, the message
        // gets the inner run's own lines (its steps, the error and where it was thrown)
        mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true })
        writeFileSync(OUTPUT_LOG, output)
        const own = output.split('\n').filter(l => !/^\s*tab \d+ (debug|log|info|warning|error):/.test(l)).join('\n')
        assert.fail(`the run inside the namespace failed (whole output in ${OUTPUT_LOG}):\n${own.slice(0, 6000)}`)
      }
      // each step's time, also when it passed
      for (const line of output.split('\n')) if (/^\s*ℹ [\d.]+ s: /.test(line)) t.diagnostic(line.trim().slice(2))
      // the spec reporter prints `ℹ pass N`, the tap reporter `# pass N`
      assert.match(output, /^\s*(?:ℹ|#) pass [1-9]/m, output.slice(-2000))
      assert.match(output, /^\s*(?:ℹ|#) fail 0/m, output.slice(-2000))
    })
  })
} else {
  describe('dashboard end to end', () => {
    let start: PeerProcess | undefined
    let browser: Browser | undefined
    let context: BrowserContext | undefined
    let data: string
    const pages: Page[] = []
    const ids: string[] = []
    /** what the tabs printed: shown when the test fails */
    const consoleLines: string[] = []
    /** uncaught errors in the tabs: the dashboard must have none */
    const pageErrors: string[] = []

    before(async () => {
      rmSync(SCREENSHOT, { force: true })
      rmSync(CONSOLE_LOG, { force: true })
      if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`)
      // the page as the sources are now (`agentmesh start` builds only when dist/demo is missing)
      const vite = await import('vite')
      await vite.build({ root: ROOT, configFile: join(ROOT, 'vite.config.ts'), logLevel: 'warn' })
      data = mkdtempSync(join(tmpdir(), 'agentmesh-e2e-'))
      const port = await freePortPair()
      start = await startProcess(['start', '--data', data, '--nodes', '2', '--port', String(port), '--demo-port', '0'], { readyTimeoutMs: 60_000 })
      const { chromium } = await import('playwright-core')
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
      // without the grant Chrome gathers no ICE candidates on loopback
      context = await browser.newContext({ permissions: ['camera', 'microphone'], viewport: { width: 1400, height: 1000 } })
      // the tabs' own account of their dials, their node lease and their Raft group, printed when
      // a step fails (the last lines) and written whole to test-artifacts/dashboard-e2e-console.log
      await context.addInitScript(() => { localStorage.setItem('debug', 'agentmesh:network*,agentmesh:agents:lease*,agentmesh:consensus*,libp2p:webrtc*error,libp2p:circuit-relay*error') })
    })

    after(async () => {
      // what the dashboard looked like, also when the test failed
      const open = pages.find(p => !p.isClosed())
      if (open != null && !existsSync(SCREENSHOT)) {
        mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true })
        await open.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-failed.png'), fullPage: true }).catch(() => {})
      }
      if (!existsSync(SCREENSHOT)) {
        mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true })
        writeFileSync(CONSOLE_LOG, consoleLines.join('\n') + '\n')
      }
      await context?.close().catch(() => {})
      await browser?.close().catch(() => {})
      const code = await start?.stop()
      rmSync(data, { recursive: true, force: true })
      assert.equal(code, 0, 'agentmesh start stops cleanly')
    })

    it('three tabs join, link over WebRTC, and an agent outlives the tab it ran on, a migration and a stopped peer', { timeout: 180_000 }, async (t) => {
      const began = Date.now()
      const step = (what: string): void => { t.diagnostic(`${((Date.now() - began) / 1000).toFixed(1)} s: ${what}`) }
      assert.ok(start?.ready.demo != null, 'the ready line names the demo page')
      for (let i = 0; i < 3; i++) {
        const page = await context!.newPage()
        page.on('console', m => { consoleLines.push(`tab ${i} ${m.type()}: ${new Date().toISOString().slice(11, 23)} ${m.text()}`.slice(0, 500)) })
        page.on('pageerror', e => { pageErrors.push(`tab ${i}: ${e.stack ?? e.message}`.slice(0, 1000)) })
        await page.goto(start.ready.demo)
        await page.waitForFunction(() => window.mesh != null || window.meshError != null, undefined, { timeout: 30_000 })
          .catch(err => { throw new Error(`tab ${i} did not start: ${(err as Error).message}\n${consoleLines.slice(-20).join('\n')}`) })
        const error = await page.evaluate(() => window.meshError)
        assert.equal(error, undefined, `tab ${i} failed to start its peer`)
        pages.push(page)
        ids.push(await page.evaluate(() => window.mesh!.peerId))
      }
      const [a] = pages
      step('three tabs started their peers')

      // every tab sees the other two alive, and the peer table lists them
      for (const page of pages) {
        await page.waitForFunction((others) => {
          const m = window.meshModel
          return m != null && others.every(id => m.peers.some(p => p.peerId === id && p.status === 'alive'))
        }, ids.filter(id => id !== ids[pages.indexOf(page)]), { timeout: 30_000, polling: 250 })
          .catch(async err => { throw new Error(`${(err as Error).message}: tab ${pages.indexOf(page)} does not see the others alive; tabs ${ids.map(id => id.slice(-6)).join(', ')} show:\n${(await Promise.all(pages.map(describeTab))).join('\n')}\n${consoleLines.slice(-20).join('\n')}`) })
      }
      assert.equal(await a.locator(`#peers tr[data-peer="${ids[1]}"]`).count(), 1, 'tab A lists tab B in its peer table')
      step('every tab sees the other two alive')

      // tabs link directly: a webrtc edge between two tabs, drawn in the topology graph
      await a.waitForFunction((tabs) => window.meshModel?.edges.some(e => tabs.includes(e.from) && tabs.includes(e.to) && e.transport === 'webrtc') === true &&
        document.querySelector('#topology line.webrtc') != null,
        ids, { timeout: 45_000, polling: 250 })
        .catch(async err => { throw new Error(`${(err as Error).message}: no webrtc link between tabs: ${await describeTab(a)}\n  ${(await Promise.all(ids.slice(1).map(async id => await linkReport(a, id)))).join('\n  ')}\n${consoleLines.slice(-40).join('\n')}`) })
      step('a direct WebRTC link between tabs, drawn in the topology')

      // an agent deployed to another tab, with some state: the first of the two that can host agents
      // (a peer hosts agents once it holds a node lease, which it gets through Raft)
      // and this tab must be in the Raft group itself (its Raft panel says learner): before that a
      // deploy from it is refused at once with NoQuorumError ('not (yet) a member of the raft group')
      const hostHandle = await a.waitForFunction((others) => window.mesh!.consensus.status().role !== 'none' && (others.find(id => {
        const kinds = window.mesh!.network.member(id)?.record.ext.kinds
        return Array.isArray(kinds) && kinds.length > 0
      }) ?? false), ids.slice(1), { timeout: 60_000, polling: 250 })
        .catch(async err => { throw new Error(`${(err as Error).message}: this tab is not in the Raft group (role ${await a.evaluate(() => window.mesh!.consensus.status().role)}) or no other tab advertises agent kinds: ${await describeTab(a)}\n  ${(await Promise.all(pages.map(hostReport))).join('\n  ')}\n${consoleLines.slice(-30).join('\n')}`) })
      const host = await hostHandle.jsonValue() as string
      const hostPage = pages[ids.indexOf(host)]
      const agent = 'e2e-counter'
      // as a user would press deploy again: a deploy that timed out may have been committed (then it
      // is there); one refused as on the minority side (a loaded machine makes peers miss beats) is
      // pressed again once the header says no partition
      const deployed = await a.evaluate(async ([id, node]): Promise<{ node: string }> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await window.mesh!.agents.deployAgent(id, { kind: 'counter', node })
          } catch (err) {
            const name = (err as Error).name
            if (name === 'ConflictError') return await window.mesh!.agents.getAgent(id)
            if (!['TimeoutError', 'NoQuorumError'].includes(name) || attempt === 4) throw err
            const until = Date.now() + 20_000
            while (window.mesh!.network.partitionStatus().partitioned && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 250))
          }
        }
      }, [agent, host] as const)
        .catch(async err => { throw new Error(`${(err as Error).message}\n  ${await linkReport(a, host)}\n  ${await linkReport(hostPage, ids[0])}\n${consoleLines.slice(-30).join('\n')}`) })
      assert.equal(deployed.node, host, 'placed on the chosen tab as asked')
      step('agent deployed on another tab')
      for (let i = 1; i <= 3; i++) {
        const reply = await a.evaluate(async (id) => await window.mesh!.agents.call(id, { op: 'inc' }), agent) as { value: number }
        assert.equal(reply.value, i)
      }
      await waitForShown(a, `#agents tr[data-agent="${agent}"][data-node="${host}"]`, 15_000)

      // that tab goes away; tab A's dashboard shows the agent running elsewhere, with its state
      await hostPage.close()
      step('the hosting tab closed')
      await waitForShown(a, `#agents tr[data-agent="${agent}"]:not([data-node="${host}"])`, 45_000)
        .catch(async err => { throw new Error(`${(err as Error).message}: the agent did not move: ${await describeTab(a)}`) })
      const after = await a.evaluate(async (id) => await window.mesh!.agents.call(id, { op: 'inc' }, { timeoutMs: 20_000 }), agent) as { value: number }
      assert.equal(after.value, 4, 'the count survived the tab')
      step('the agent answers from another peer with its state')
      const where = await a.locator(`#agents tr[data-agent="${agent}"]`).getAttribute('data-node')
      assert.notEqual(where, host)

      // migrate, through a dashboard's controls, onto a tab it is not on; then that tab's own
      // "stop this peer" button: the agent moves again, keeping its state, and the dashboards say so
      const third = ids.find(id => id !== ids[0] && id !== host)!
      const target = where === third ? ids[0] : third
      const targetPage = pages[ids.indexOf(target)]
      const watcher = target === ids[0] ? pages[ids.indexOf(third)] : a
      await watcher.waitForFunction((id) => {
        const kinds = window.mesh!.network.member(id)?.record.ext.kinds
        return Array.isArray(kinds) && kinds.length > 0
      }, target, { timeout: 45_000, polling: 250 })
        .catch(async err => { throw new Error(`${(err as Error).message}: the tab to migrate to does not advertise agent kinds: ${await describeTab(watcher)}`) })
      const migrated = await clickUntilDone(watcher, 'migrate', async () => {
        await watcher.selectOption('#migrate-agent', agent, { timeout: 15_000 })
        await watcher.selectOption('#migrate-node', target, { timeout: 15_000 })
      })
      assert.match(migrated, new RegExp(`^${agent} now on `), 'the migrate control reports where the agent went')
      await waitForShown(watcher, `#agents tr[data-agent="${agent}"][data-node="${target}"]`, 15_000)
      const onTarget = await watcher.evaluate(async (id) => await window.mesh!.agents.call(id, { op: 'inc' }, { timeoutMs: 20_000 }), agent) as { value: number }
      assert.equal(onTarget.value, 5, 'the count moved with the agent')
      step('migrated onto a tab through the dashboard')

      const stopped = await clickUntilDone(targetPage, 'stop', async () => {}, 1)
      assert.match(stopped, /^this peer stopped/, 'the stop control says the peer stopped')
      await waitForShown(watcher, `#peers tr[data-peer="${target}"] td.alive`, 30_000, false)
        .catch(async err => { throw new Error(`${(err as Error).message}: the stopped tab is still shown alive: ${await describeTab(watcher)}`) })
      await waitForShown(watcher, `#agents tr[data-agent="${agent}"]:not([data-node="${target}"])`, 45_000)
        .catch(async err => { throw new Error(`${(err as Error).message}: the agent did not leave the stopped tab: ${await describeTab(watcher)}`) })
      const afterStop = await watcher.evaluate(async (id) => await window.mesh!.agents.call(id, { op: 'inc' }, { timeoutMs: 20_000 }), agent) as { value: number }
      assert.equal(afterStop.value, 6, 'the count survived the stopped peer')
      // the stopped tab's dashboard stopped refreshing: seconds later it still says 'stopped'
      assert.equal(await targetPage.locator('#status').textContent(), 'stopped', 'the stopped tab says so')
      step('the tab stopped from its dashboard; the agent answers from elsewhere with its state')

      assert.deepEqual(pageErrors, [], 'no uncaught errors in the tabs')
      mkdirSync(join(ROOT, 'test-artifacts'), { recursive: true })
      rmSync(SCREENSHOT.replace(/\.png$/, '-failed.png'), { force: true })
      await watcher.screenshot({ path: SCREENSHOT, fullPage: true })
      await waitUntil(() => existsSync(SCREENSHOT), 5000, 'the screenshot')
    })
  })
}
