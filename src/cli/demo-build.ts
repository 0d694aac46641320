/**
 * Whether the built demo page (dist/demo) is older than its sources, so `agentmesh start` rebuilds
 * it after the sources changed (a pull, an edit) instead of serving yesterday's page.
 */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** what the page is built from, relative to the package root */
export const DEMO_SOURCES = ['index.html', 'vite.config.ts', 'package.json', 'demo', 'src']
/** files looked at, at most: a tree larger than this is taken as changed */
const MAX_SOURCE_FILES = 5000

/** newest modification time (ms) under `path`, or undefined when it does not exist */
function newestMtime (path: string, budget: { files: number }): number | undefined {
  let st
  try { st = statSync(path) } catch { return undefined }
  if (!st.isDirectory()) { budget.files--; return st.mtimeMs }
  let newest = st.mtimeMs
  for (const name of readdirSync(path)) {
    if (budget.files <= 0) return Number.POSITIVE_INFINITY
    const m = newestMtime(join(path, name), budget)
    if (m !== undefined && m > newest) newest = m
  }
  return newest
}

/** true when `outDir/index.html` exists and nothing in the sources is newer */
export function demoBuildIsCurrent (root: string, outDir: string, sources: readonly string[] = DEMO_SOURCES): boolean {
  const built = newestMtime(join(outDir, 'index.html'), { files: 1 })
  if (built === undefined) return false
  const budget = { files: MAX_SOURCE_FILES }
  for (const s of sources) {
    const m = newestMtime(join(root, s), budget)
    if (m !== undefined && m > built) return false
  }
  return true
}
