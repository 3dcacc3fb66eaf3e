// TRACKPIPE_CONFIG is read by the loader; its value must never come back in an error or a source name.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackpipeError } from '@trackpipe/core';
import { CONFIG_ENV, issuesOf, loadConfig, readConfigSource } from '@trackpipe/core/config';

const SECRET = 'sk_live_51Hx9QpL2eZvKYlo2C0tr4ckp1p3';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trackpipe-config-env-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function rejected(promise: Promise<unknown>): Promise<TrackpipeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected a rejection');
}

/** Everything an error could print: message, stack, inspect output (details and cause), JSON details. */
function printed(error: TrackpipeError): string {
  return [error.message, error.stack, inspect(error, { depth: 10 }), JSON.stringify(error.details)].join('\n');
}

describe('TRACKPIPE_CONFIG is never echoed', () => {
  it('refuses a one-line value that is neither a readable file nor a configuration without repeating any of it', async () => {
    for (const value of [SECRET, `token=${SECRET}`, `/no/such/dir/${SECRET}.yaml`, `${SECRET}\0`, ` ${SECRET} `]) {
      const error = await rejected(loadConfig({ env: { [CONFIG_ENV]: value } }));
      expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
      expect(error.message).toContain(`${CONFIG_ENV} does not name a readable file`);
      expect(error.message).toContain('is not a JSON or YAML configuration');
      expect(printed(error)).not.toContain(SECRET);
      expect(printed(error)).not.toContain('sk_live');
      expect(issuesOf(error)).toHaveLength(1);
    }
  });

  it('names the reason the file could not be read by its code only', async () => {
    const error = await rejected(readConfigSource({ env: { [CONFIG_ENV]: join(dir, `missing-${SECRET}.yaml`) } }));
    expect(error.message).toContain('(ENOENT)');
    expect(printed(error)).not.toContain(SECRET);
    const folder = await rejected(readConfigSource({ env: { [CONFIG_ENV]: dir } }));
    expect(folder.message).toContain('(EISDIR)');
    expect(printed(folder)).not.toContain(dir);
  });

  it('calls a file it names "the file named by TRACKPIPE_CONFIG", in the source and in errors, never by its path', async () => {
    const file = join(dir, `named-${SECRET}.yaml`);
    await writeFile(file, 'pipelines:\n  - exporters:\n      - type: console\n');
    const read = await readConfigSource({ env: { [CONFIG_ENV]: file } });
    expect(read?.source).toBe(`the file named by ${CONFIG_ENV}`);
    expect(read?.document).toEqual({ pipelines: [{ exporters: [{ type: 'console' }] }] });

    const bad = join(dir, `bad-${SECRET}.yaml`);
    await writeFile(bad, 'pipelines:\n  - exporters: [\n');
    const parse = await rejected(loadConfig({ env: { [CONFIG_ENV]: bad } }));
    expect(parse.message).toContain(`(the file named by ${CONFIG_ENV})`);
    expect(parse.message).toContain('not valid JSON or YAML');
    expect(printed(parse)).not.toContain(SECRET);

    const invalid = join(dir, `invalid-${SECRET}.yaml`);
    await writeFile(invalid, 'pipelines: []\n');
    const schema = await rejected(loadConfig({ env: { [CONFIG_ENV]: invalid } }));
    expect(issuesOf(schema).map((i) => i.path)).toEqual(['pipelines']);
    expect(printed(schema)).not.toContain(SECRET);
  });

  it('reads a one-line YAML mapping that names no file as the configuration itself', async () => {
    const config = await loadConfig({ env: { [CONFIG_ENV]: 'pipelines: [{ name: one-line, exporters: [{ type: console }] }]' } });
    expect(config.pipelines[0]?.name).toBe('one-line');
  });

  it('does not repeat a secret of an inline configuration that fails validation', async () => {
    const error = await rejected(loadConfig({ env: { [CONFIG_ENV]: `{"pipelines": [{"batch": {"maxBatchSize": "${SECRET}"}, "exporters": [{"type": "console"}]}]}` } }));
    expect(error.message).toContain(`(${CONFIG_ENV})`);
    expect(issuesOf(error).map((i) => i.path)).toEqual(['pipelines[0].batch.maxBatchSize']);
    expect(printed(error)).not.toContain(SECRET);
  });
});

describe('a configuration that would take unbounded memory to read', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`), 'pipelines: [{ exporters: [{ type: console }] }]', ''].join('\n');

  it('refuses YAML aliases that expand too far (a "billion laughs" document) as a configuration error, from a file or from TRACKPIPE_CONFIG', async () => {
    const file = join(dir, 'laughs.yaml');
    await writeFile(file, bomb);
    for (const load of [() => loadConfig({ file }), () => loadConfig({ env: { [CONFIG_ENV]: bomb } }), () => loadConfig({ env: { [CONFIG_ENV]: file } })]) {
      const error = await rejected(load());
      expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
      expect(error.message).toContain('YAML aliases expand too far');
    }
  });

  it('stops reading a file past 16 MiB, also one without a size (a device), naming why', async () => {
    const error = await rejected(loadConfig({ file: '/dev/zero' }));
    expect(error.message).toContain('cannot read the configuration file /dev/zero: it is larger than 16777216 bytes');
    const named = await rejected(loadConfig({ env: { [CONFIG_ENV]: '/dev/zero' } }));
    expect(named.message).toContain('(TOO_LARGE)');
  });
});
