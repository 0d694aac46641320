/**
 * Conflict policies by name, so a doc's policy can be stored with it and travel to its holders:
 * 'crdt', 'lww', or 'custom:<name>' for a resolver the application registers under that name
 * (a function cannot be stored). A doc restored with a custom name whose resolver is not
 * registered (yet) records conflicts like lww, and handleConflict fails with NotFoundError until
 * the resolver is given.
 */
import { InvalidArgumentError, NotFoundError } from '../../errors.ts'
import type { Conflict, ConflictPolicy } from './types.ts'

export type ConflictResolver = (conflict: Conflict) => unknown

const CUSTOM_PREFIX = 'custom:'
const MAX_POLICY_NAME_LENGTH = 100

/** the stored name of a policy */
export function policyName (policy: ConflictPolicy): string {
  if (policy === 'crdt' || policy === 'lww') return policy
  return CUSTOM_PREFIX + (policy.name ?? 'custom')
}

/** refuses names that could not be stored or sent (too long, not printable ASCII) */
export function validatePolicyName (name: string): void {
  if (name === 'crdt' || name === 'lww') return
  const custom = name.startsWith(CUSTOM_PREFIX) ? name.slice(CUSTOM_PREFIX.length) : ''
  if (custom.length === 0 || name.length > MAX_POLICY_NAME_LENGTH || !/^[\x20-\x7e]+$/.test(custom)) {
    throw new InvalidArgumentError(`invalid conflict policy name ${JSON.stringify(name.slice(0, 40))}`)
  }
}

/** the policy a stored name stands for, custom ones looked up in `resolvers` by their name */
export function policyFromName (name: string, resolvers: ReadonlyMap<string, ConflictResolver>): ConflictPolicy {
  if (name === 'crdt' || name === 'lww') return name
  if (!name.startsWith(CUSTOM_PREFIX)) return 'crdt'
  const custom = name.slice(CUSTOM_PREFIX.length)
  const resolve = resolvers.get(custom)
  if (resolve != null) return { name: custom, resolve }
  return {
    name: custom,
    resolve: () => {
      throw new NotFoundError(`no resolver registered for conflict policy ${custom}: pass it to replicateState or DocReplicatorInit.conflictResolvers`)
    }
  }
}

/** a policy name received from a peer, if it is one this peer can store ('' or invalid: undefined) */
export function storablePolicyName (name: string): string | undefined {
  if (name === '') return undefined
  try {
    validatePolicyName(name)
    return name
  } catch {
    return undefined
  }
}
