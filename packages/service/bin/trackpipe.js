#!/usr/bin/env node
// The `trackpipe` command; the program is built to dist/ (pnpm build).
import '../dist/cli.js';
