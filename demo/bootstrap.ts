/** Where the page finds the mesh: `?relay=MULTIADDR`, else `/bootstrap.json` served beside the page. */
export interface PageConfig {
  relay: string[]
  mesh: string
}

export async function loadPageConfig (): Promise<PageConfig> {
  const params = new URLSearchParams(location.search)
  const relay = params.getAll('relay').filter(r => r.length > 0)
  const mesh = params.get('mesh')
  if (relay.length > 0) return { relay, mesh: mesh ?? 'agentmesh' }
  const res = await fetch('/bootstrap.json')
  if (!res.ok) throw new Error(`no ?relay= given and /bootstrap.json answered ${res.status}`)
  const body = await res.json() as { bootstrap?: unknown, mesh?: unknown }
  if (!Array.isArray(body.bootstrap) || body.bootstrap.some(a => typeof a !== 'string')) throw new Error('/bootstrap.json has no bootstrap list')
  return { relay: body.bootstrap as string[], mesh: mesh ?? (typeof body.mesh === 'string' ? body.mesh : 'agentmesh') }
}
