#!/usr/bin/env node
// The `trackpipe` command: `trackpipe serve [--config <file>] ...`. See README.md. `--help` and
// `--version` load nothing of the service; `serve` and `validate` load commands.ts.
import { HELP, UsageError, version } from './usage.js';

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      if (command === undefined) process.exitCode = 2;
      return;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return;
    case 'serve':
      return (await import('./commands.js')).serve(rest);
    case 'validate':
      return (await import('./commands.js')).validate(rest);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch(async (error: unknown) => {
  const { TrackpipeError, describeError } = await import('@trackpipe/core');
  const code = (error as { code?: unknown }).code;
  if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`trackpipe: ${describeError(error)}\nRun "trackpipe --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  const message = error instanceof TrackpipeError ? error.message : describeError(error);
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'fatal', error: message })}\n`);
  process.exitCode = 1;
});
