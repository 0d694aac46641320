/** Small helpers for browser tests (mocha globals from web-test-runner; no node: modules here). */
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
