/**
 * The version of the on-disk layout. A spool written by another version is moved aside, not read.
 * 1: named databases `events` (key: sequence number of a group's first event; value: `<count>\n<JSON
 * array>`) and `meta` (`format`; `state`: `{ next, released }`).
 */
export const SPOOL_FORMAT = 1;

/** The code of the error thrown when the spool directory cannot be created, read or written. */
export const SPOOL_UNAVAILABLE = 'TRACKPIPE_ERR_SPOOL_UNAVAILABLE' as const;
