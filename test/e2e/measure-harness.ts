/**
 * What the dashboard e2e and the measurement scripts (measure-relay.ts, measure-lease.ts) share:
 * Chromium's flags; and for the scripts, running themselves in a loopback-only network namespace
 * when root, and the real `agentmesh start` (relay + 2 Node
 * peers + the demo page) with a headless Chromium beside it.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { Browser, BrowserContext } from 'playwright-core'
import { startProcess } from '../helpers/processes.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Chromium's flags for tabs that link over WebRTC on loopback (ENVIRONMENT.md) */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--allow-loopback-in-peer-connection']

/**
 * As root outside a namespace: runs the script `self` again inside one that has only loopback
 * (so ICE can pick nothing else) with `args`, and exits with its status. Otherwise returns.
 */
export function reexecInNamespace (self: string, args: Array<string | number>): void {
  if (process.getuid?.() !== 0 || process.env.AGENTMESH_NETNS === '1') return
  const r = spawnSync('unshare', ['-n', '--', 'sh', '-c', `ip link set lo up && exec "${process.execPath}" ${process.execArgv.map(a => `'${a}'`).join(' ')} "${self}" ${args.join(' ')}`],
    { stdio: 'inherit', cwd: ROOT, env: { ...process.env, AGENTMESH_NETNS: '1' } })
  process.exit(r.status ?? 1)
}

export interface MeshWithBrowser {
  start: Awaited<ReturnType<typeof startProcess>>
  browser: Browser
  /** a context granted camera+microphone (without it Chrome gathers no ICE candidates on loopback) */
  context: BrowserContext
  /** closes the browser, stops the mesh and removes its data dir */
  stop: () => Promise<void>
}

/** the real `agentmesh start` with 2 Node peers on a fresh data dir, and a headless Chromium */
export async function startMeshWithBrowser (): Promise<MeshWithBrowser> {
  const data = mkdtempSync(join(tmpdir(), 'agentmesh-measure-'))
  const start = await startProcess(['start', '--data', data, '--nodes', '2', '--port', '0', '--demo-port', '0'], { readyTimeoutMs: 120_000 })
  const stopMesh = async (): Promise<void> => {
    await start.stop()
    rmSync(data, { recursive: true, force: true })
  }
  let browser: Browser
  try {
    const { chromium } = await import('playwright-core')
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS })
  } catch (err) {
    await stopMesh()
    throw err
  }
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  return {
    start,
    browser,
    context,
    stop: async () => {
      await browser.close().catch(() => {})
      await stopMesh()
    }
  }
}
