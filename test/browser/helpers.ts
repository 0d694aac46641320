/** Small helpers for browser tests (mocha globals from web-test-runner; no node: modules here). */
import { createNode, type MeshNode } from '../../src/node.ts'

export function assert (condition: unknown, message: string): asserts condition {
  if (condition !== true && (condition == null || condition === false)) throw new Error(`assertion failed: ${message}`)
}

export async function waitFor (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

export interface Fixture {
  mesh: string
  relay: string
  relayPeerId: string
  nodePeerIds: string[]
}

export async function loadFixture (): Promise<Fixture> {
  const res = await fetch('/.wtr-build/fixture.json')
  return await res.json()
}

/** Opens another tab (a real page in the same browser) running a mesh peer; resolves with its window. */
export async function openPeerTab (query: string): Promise<Window & { mesh?: any, meshError?: string }> {
  const w = window.open(`/.wtr-build/peer-tab.html?${query}`, '_blank')
  if (w == null) throw new Error('could not open a tab')
  return w as any
}

/** a tab opened by openPeerTab, with the mesh node its page started (or why it could not) */
export type PeerTabWindow = Window & { mesh?: MeshNode, meshError?: string }

/** a node on this page and one in a second tab, both joined to the fixture's mesh through its relay */
export interface TwoTabs {
  fixture: Fixture
  node: MeshNode
  other: PeerTabWindow
  otherId: string
}

/**
 * starts a node on this page and another in a second tab, both on the fixture's mesh through its
 * relay; fails when the second tab's node has not started within 20 s (and then stops what it
 * started). Undo with stopTwoTabs.
 */
export async function startTwoTabs (): Promise<TwoTabs> {
  const fixture = await loadFixture()
  const node = await createNode({ mesh: fixture.mesh, bootstrap: [fixture.relay] })
  let other: PeerTabWindow | undefined
  try {
    other = await openPeerTab(`relay=${encodeURIComponent(fixture.relay)}&mesh=${fixture.mesh}`)
    const tab = other
    await waitFor(() => tab.mesh != null || tab.meshError != null, 20_000, 'the second tab to start its node')
    assert(tab.meshError == null, `second tab failed: ${tab.meshError}`)
    return { fixture, node, other: tab, otherId: tab.mesh!.peerId }
  } catch (err) {
    await stopTwoTabs({ node, other })
    throw err
  }
}

/** stops the second tab's node and closes it, then stops this page's node */
export async function stopTwoTabs (tabs: { node?: MeshNode, other?: PeerTabWindow } | undefined): Promise<void> {
  await tabs?.other?.mesh?.stop()
  tabs?.other?.close()
  await tabs?.node?.stop()
}
