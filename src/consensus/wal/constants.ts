/** Limits and sizes of the Raft write-ahead log (src/consensus/wal/, Node only). */

/** size a segment file is preallocated to; a new segment is cut when the next write would not fit */
export const WAL_SEGMENT_BYTES = 64 * 1024 * 1024
/**
 * the next segment is preallocated in the background once the one being written is this full
 * (a fraction of WAL_SEGMENT_BYTES), so a cut only renames a ready file instead of writing the
 * whole segment's zeros inside a Ready; short-lived logs never pay for a spare
 */
export const WAL_PREPARE_NEXT_AT_FILL_RATIO = 0.5
/** bytes of zeros written per call while preallocating a segment */
export const WAL_PREALLOCATE_CHUNK_BYTES = 1024 * 1024
/** bytes of a segment read at a time at replay (a record larger than this is read whole) */
export const WAL_REPLAY_CHUNK_BYTES = 1024 * 1024
/** record header: payload length (u32 LE), CRC-32 of type and payload (u32 LE), type (u8) */
export const WAL_RECORD_HEADER_BYTES = 9
/** largest record payload read back (one Ready's entries) */
export const MAX_WAL_RECORD_BYTES = 512 * 1024 * 1024
/** most entries in one entries record read back */
export const MAX_WAL_RECORD_ENTRIES = 1024 * 1024
/** segment file names: 16 hex digits of the sequence number and this suffix */
export const WAL_SEGMENT_SUFFIX = '.wal'
/** suffix of a segment being preallocated (removed at open: a crash left it half made) */
export const WAL_TEMP_SUFFIX = '.wal.tmp'
