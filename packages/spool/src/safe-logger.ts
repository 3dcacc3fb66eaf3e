import type { Logger } from '@trackpipe/core';

/**
 * `logger` behind a guard: the application's logger runs inside commits' error paths, the owner-file
 * protocol and flush callbacks, and one that throws must not fail an open, leave a `persisted()`
 * unanswered or a rejection unhandled. What it throws is ignored, as if the line had been logged.
 */
export function guardLogger(logger: Logger): Logger {
  return {
    warn: (message, fields) => {
      try {
        logger.warn(message, fields);
      } catch {
        // a failing logger must not break the spool
      }
    },
    error: (message, fields) => {
      try {
        logger.error(message, fields);
      } catch {
        // a failing logger must not break the spool
      }
    },
  };
}
