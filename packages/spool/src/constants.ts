/**
 * The version of the on-disk layout. A spool written by another version is moved aside, not read.
 * 1: named databases `events` (key: sequence number of a group's first event; value: `<count>\n<JSON
 * array>`) and `meta` (`format`; `state`: `{ next, released, writer }`, `writer` since the check of
 * a second process: a state without it is read as before).
 */
export const SPOOL_FORMAT = 1;

/** The code of the error thrown when the spool directory cannot be created, read or written. */
export const SPOOL_UNAVAILABLE = 'TRACKPIPE_ERR_SPOOL_UNAVAILABLE' as const;

/**
 * Bytes of stored values read back or deleted after which the spool closes its environment and opens
 * it again: LMDB reads through a memory map (and touches a value's pages to free it), and pages once
 * touched stay in the process's RSS until they are unmapped.
 */
export const REMAP_TOUCHED_BYTES = 32 * 1024 * 1024;

/**
 * The smallest data file worth a remap: a smaller one cannot put more of itself in RSS, while every
 * reopen costs lmdb-js some native memory (about 120 KB each, up to some 60 MB over the first
 * hundreds). So a spool that never held a large backlog never reopens.
 */
export const REMAP_MIN_FILE_BYTES = 4 * REMAP_TOUCHED_BYTES;
