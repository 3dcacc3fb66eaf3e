import type { Logger } from './contracts.js';

/** Writes `[trackpipe] message {fields}` lines to the console (stderr for warnings and errors). */
export const consoleLogger: Logger = {
  warn: (message, fields) => console.warn(`[trackpipe] ${message}`, ...(fields ? [fields] : [])),
  error: (message, fields) => console.error(`[trackpipe] ${message}`, ...(fields ? [fields] : [])),
};

/** Discards everything. */
export const silentLogger: Logger = {
  warn: () => undefined,
  error: () => undefined,
};
