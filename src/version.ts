/** the agentmesh version peers announce in their records (kept in step with package.json) */
export const VERSION = '0.1.0'
