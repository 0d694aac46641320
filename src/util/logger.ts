/**
 * One logger per component (`agentmesh:<component>`), built on libp2p's debug-style logger so
 * `DEBUG=agentmesh:*` (Node) or `localStorage.debug = 'agentmesh:*'` (browser) turns them on.
 * Errors are always printed; nothing in src/ writes to the console directly.
 */
import { defaultLogger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

export type { ComponentLogger, Logger }

export const rootLogger: ComponentLogger = defaultLogger()

export function componentLogger (name: string, base: ComponentLogger = rootLogger): Logger {
  return base.forComponent(`agentmesh:${name}`)
}
