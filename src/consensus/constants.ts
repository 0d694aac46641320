/** Limits of the durable Raft log store (src/consensus/log-store.ts). */

/** largest entry record read back from disk (an entry's payload plus its header) */
export const MAX_LOG_ENTRY_RECORD_BYTES = 64 * 1024 * 1024
/** largest snapshot record read back from disk (the state machine's bytes plus metadata) */
export const MAX_SNAPSHOT_RECORD_BYTES = 1024 * 1024 * 1024 + 1024 * 1024
/** longest node id kept in a hard state vote or a ConfState */
export const MAX_STORED_NODE_ID_BYTES = 256
/** most voters plus learners kept in a ConfState */
export const MAX_STORED_CONF_MEMBERS = 1024
/** width of the decimal index in entry keys (`e/0000000000000042`): enough for 2^53 */
export const LOG_INDEX_KEY_DIGITS = 16
