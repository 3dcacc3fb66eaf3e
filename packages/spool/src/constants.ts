/**
 * The version of the on-disk layout. A spool written by another version is moved aside, not read.
 * 1: named databases `events` (key: sequence number of a group's first event; value: `<count>\n<JSON
 * array>`) and `meta` (`format`; `state`: `{ next, released }`).
 */
export const SPOOL_FORMAT = 1;

/**
 * The code of the error thrown when the spool directory cannot be created, read or written.
 * Proposed: a code of its own, `TRACKPIPE_ERR_SPOOL_UNAVAILABLE`; until core has it, the spool uses
 * the code of an invalid option (the `path` option names a directory the process cannot use).
 */
export const SPOOL_UNAVAILABLE = 'TRACKPIPE_ERR_OPTIONS_INVALID' as const;
