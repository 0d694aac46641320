/** Limits and sizes of the Raft write-ahead log (src/consensus/wal/, Node only). */

/** size a segment file is preallocated to; a new segment is cut when the next write would not fit */
export const WAL_SEGMENT_BYTES = 64 * 1024 * 1024
/** bytes of zeros written per call while preallocating a segment */
export const WAL_PREALLOCATE_CHUNK_BYTES = 1024 * 1024
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
