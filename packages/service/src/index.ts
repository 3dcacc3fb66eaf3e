// Public API: filled in by its issue.
export {};
