// The packages as users get them. Packs every publishable package (packages/*, `pnpm pack`), installs
// the tarballs with npm into a fresh project outside the workspace (no workspace links; third-party
// packages from the registry), then there: type-checks a consumer of every entry point under
// `moduleResolution` node16 and bundler, loads every entry point, runs each package README's example
// (the code block after `<!-- packed-example -->`, see readme-example.ts) and the `trackpipe` bin.
// It is a *.kafka.test.ts only so that the exporter-kafka example gets the suite's broker.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Outcome, describeOutcome, runCommand } from './child.js';
import { type ReadmeExample, readmeExample } from './readme-example.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const kafka = inject('kafka');

interface Manifest {
  readonly name: string;
  readonly version: string;
  readonly private?: boolean;
  readonly main?: string;
  readonly types?: string;
  readonly exports?: Record<string, string | Record<string, string>>;
  readonly bin?: string | Record<string, string>;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly engines?: Record<string, string>;
}

interface Workspace {
  /** Folder name under packages/, e.g. `core`. */
  readonly dir: string;
  readonly manifest: Manifest;
  /** The README's example, or why it has none. */
  readonly example: ReadmeExample | Error;
}

function readJson<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

// Every publishable package, found when the file is collected, so that new packages are covered.
const workspaces: Workspace[] = readdirSync(join(ROOT, 'packages'))
  .filter((dir) => existsSync(join(ROOT, 'packages', dir, 'package.json')))
  .map((dir) => ({ dir, manifest: readJson<Manifest>(join(ROOT, 'packages', dir, 'package.json')) }))
  .filter(({ manifest }) => manifest.private !== true)
  .map(({ dir, manifest }) => {
    const readme = join(ROOT, 'packages', dir, 'README.md');
    let example: ReadmeExample | Error;
    try {
      example = readmeExample(readFileSync(readme, 'utf8'), `packages/${dir}/README.md`);
    } catch (error) {
      example = error instanceof Error ? error : new Error(String(error));
    }
    return { dir, manifest, example };
  });

/** Public entry points of a manifest: `@trackpipe/core`, `@trackpipe/core/di`, ... (not `./package.json`). */
function entryPoints(manifest: Manifest): string[] {
  if (manifest.exports === undefined) return [manifest.name];
  return Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
}

/** Every file path a manifest points at (exports targets of every condition, main, types, bin). */
function pointedFiles(manifest: Manifest): string[] {
  const targets: string[] = [];
  for (const value of Object.values(manifest.exports ?? {})) targets.push(...(typeof value === 'string' ? [value] : Object.values(value)));
  if (manifest.main !== undefined) targets.push(manifest.main);
  if (manifest.types !== undefined) targets.push(manifest.types);
  if (manifest.bin !== undefined) targets.push(...(typeof manifest.bin === 'string' ? [manifest.bin] : Object.values(manifest.bin)));
  return [...new Set(targets.map((target) => target.replace(/^\.\//, '')))];
}

/** The environment of every command run in the consumer project: this Node first on PATH, no npm/pnpm/vitest variables of this run. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|VITEST|NODE_OPTIONS$|NODE_ENV$|KAFKA_BROKERS$|TRACKPIPE_)/.test(key)) continue;
    env[key] = value;
  }
  env.PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return { ...env, ...extra };
}

interface Packed {
  readonly workspace: Workspace;
  readonly tarball: string;
  /** The manifest inside the tarball (as pnpm rewrote it). */
  readonly manifest: Manifest;
  /** Paths inside the tarball, relative to its package/ folder. */
  readonly files: readonly string[];
}

let project = '';
const packed: Packed[] = [];
let install: Outcome | undefined;

const node = (args: string[], cwd: string, timeoutMs: number, env: Record<string, string> = {}): Promise<Outcome> =>
  runCommand(process.execPath, args, { cwd, env: cleanEnv(env), timeoutMs });

/** The consumer compiled under node16 (types are reported by its own test; it emits anyway, for the run-time tests). Once. */
let compiled: Promise<Outcome> | undefined;
const compileNode16 = (): Promise<Outcome> => (compiled ??= node([TSC, '-p', 'tsconfig.node16.json'], project, 300_000));

/** Path of the compiled form of a TypeScript file of the consumer; fails the test clearly when tsc wrote nothing. */
async function compiledFile(file: string): Promise<string> {
  await compileNode16();
  const out = join(project, 'out', file.replace(/\.ts$/, '.js'));
  if (!existsSync(out)) throw new Error(`tsc -p tsconfig.node16.json did not write ${out} (see the type-check test)`);
  return out;
}

const exampleFile = (ws: Workspace, example: ReadmeExample): string =>
  `examples/${ws.dir}/example${example.runner === 'vitest' ? '.test' : ''}.${example.lang === 'ts' ? 'ts' : 'mjs'}`;

beforeAll(async () => {
  // The tarballs hold dist/: build what is packed (a no-op after `pnpm build`).
  execFileSync(process.execPath, [TSC, '-b', ...workspaces.map((ws) => join(ROOT, 'packages', ws.dir))], { stdio: 'inherit' });
  project = mkdtempSync(join(tmpdir(), 'trackpipe-packed-'));
  const tarballs = join(project, 'tarballs');
  mkdirSync(tarballs);
  for (const ws of workspaces) {
    const out = await runCommand('pnpm', ['pack', '--json', '--pack-destination', tarballs], {
      cwd: join(ROOT, 'packages', ws.dir),
      env: cleanEnv(),
      timeoutMs: 120_000,
    });
    if (out.code !== 0) throw new Error(describeOutcome(`pnpm pack in packages/${ws.dir}`, out));
    const report = JSON.parse(out.stdout) as { filename: string; files: { path: string }[] };
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', report.filename, 'package/package.json'], { encoding: 'utf8' })) as Manifest;
    packed.push({ workspace: ws, tarball: report.filename, manifest, files: report.files.map((f) => f.path) });
  }

  // The consumer: every tarball; every peer dependency at the range the packages ask for (what a user
  // installs next to them); @types/node and, when an example is a test file, vitest, at the workspace's versions.
  const dependencies: Record<string, string> = {};
  for (const p of packed) dependencies[p.manifest.name] = `file:tarballs/${p.tarball.split('/').pop()!}`;
  for (const p of packed) {
    for (const [name, range] of Object.entries(p.manifest.peerDependencies ?? {})) if (!packed.some((q) => q.manifest.name === name)) dependencies[name] ??= range;
  }
  const workspaceVersion = (name: string): string => readJson<Manifest>(join(ROOT, 'node_modules', name, 'package.json')).version;
  dependencies['@types/node'] = workspaceVersion('@types/node');
  if (workspaces.some((ws) => !(ws.example instanceof Error) && ws.example.runner === 'vitest')) dependencies.vitest = workspaceVersion('vitest');
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'trackpipe-consumer', private: true, type: 'module', dependencies }, null, 2)}\n`);
  install = await runCommand('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=warn'], {
    cwd: project,
    env: cleanEnv(),
    timeoutMs: 480_000,
  });
  if (install.code !== 0) throw new Error(describeOutcome('npm install of the tarballs', install));

  // A consumer of every entry point, and the README examples, type-checked as a user's project would be.
  const entries = packed.flatMap((p) => entryPoints(p.manifest));
  writeFileSync(
    join(project, 'entries.ts'),
    [
      ...entries.map((entry, i) => `import * as entry${i} from '${entry}';`),
      '',
      'const modules: Record<string, object> = {',
      ...entries.map((entry, i) => `  '${entry}': entry${i},`),
      '};',
      'for (const [name, module] of Object.entries(modules)) console.log(`${name} ${Object.keys(module).length}`);',
      '',
    ].join('\n'),
  );
  for (const ws of workspaces) {
    if (ws.example instanceof Error) continue;
    const file = join(project, exampleFile(ws, ws.example));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, ws.example.code);
  }
  const compilerOptions = { target: 'ES2022', lib: ['ES2023'], types: ['node'], strict: true, skipLibCheck: false };
  const include = ['entries.ts', 'examples/**/*.ts'];
  writeFileSync(
    join(project, 'tsconfig.node16.json'),
    JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'node16', moduleResolution: 'node16', outDir: 'out', rootDir: '.' }, include }, null, 2),
  );
  writeFileSync(
    join(project, 'tsconfig.bundler.json'),
    JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'preserve', moduleResolution: 'bundler', noEmit: true }, include }, null, 2),
  );
}, 900_000);

afterAll(() => {
  if (project !== '') rmSync(project, { recursive: true, force: true });
});

describe('the packed packages', () => {
  it('covers every publishable package, each with a README example', () => {
    expect(packed.map((p) => p.manifest.name)).toEqual(workspaces.map((ws) => ws.manifest.name));
    expect(packed.map((p) => p.manifest.name)).toEqual(expect.arrayContaining(['@trackpipe/core', '@trackpipe/service']));
    const missing = workspaces.flatMap((ws) => (ws.example instanceof Error ? [ws.example.message] : []));
    expect(missing).toEqual([]);
  });

  it('name no workspace: or catalog: specifier, every @trackpipe dependency at a version packed here, and the workspace engines', () => {
    const rootEngines = readJson<Manifest>(join(ROOT, 'package.json')).engines?.node;
    expect(rootEngines).toMatch(/^>=\d+\.\d+/);
    const problems: string[] = [];
    for (const p of packed) {
      for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies'] as const) {
        for (const [name, range] of Object.entries(p.manifest[field] ?? {})) {
          if (/^(workspace|catalog|link|file):/.test(range)) problems.push(`${p.manifest.name} ${field}.${name}: ${range}`);
          if (name.startsWith('@trackpipe/')) {
            const target = packed.find((q) => q.manifest.name === name);
            if (target === undefined) problems.push(`${p.manifest.name} ${field}.${name}: not a package packed here`);
            else if (range !== `^${target.manifest.version}`) problems.push(`${p.manifest.name} ${field}.${name}: ${range}, but ${target.manifest.version} is packed`);
          }
        }
      }
      if (p.manifest.engines?.node !== rootEngines) problems.push(`${p.manifest.name}: engines.node is ${p.manifest.engines?.node}, the workspace's is ${rootEngines}`);
    }
    expect(problems).toEqual([]);
  });

  it('hold every file that exports, main, types and bin point at, and the README', () => {
    const problems: string[] = [];
    for (const p of packed) {
      for (const file of [...pointedFiles(p.manifest), 'README.md', 'package.json']) {
        if (!p.files.includes(file)) problems.push(`${p.manifest.name}: ${file} is not in the tarball (package.json "files")`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('install with npm: every @trackpipe package from its tarball, third-party packages from the registry', () => {
    const lock = readJson<{ packages: Record<string, { resolved?: string; link?: boolean; integrity?: string }> }>(join(project, 'package-lock.json'));
    const ours = Object.entries(lock.packages).filter(([path]) => /(^|\/)node_modules\/@trackpipe\//.test(path));
    expect(ours.map(([path]) => path).sort()).toEqual(packed.map((p) => `node_modules/${p.manifest.name}`).sort());
    for (const [path, entry] of ours) {
      expect(entry.link, path).toBeUndefined();
      expect(entry.resolved, path).toMatch(/^file:tarballs\//);
    }
    // Third-party packages: from the registry (npm leaves `resolved` out of the lock for the default one), never a link or a file.
    const thirdParty = Object.entries(lock.packages).filter(([path]) => path !== '' && !path.includes('@trackpipe/'));
    expect(thirdParty.length).toBeGreaterThan(0);
    for (const [path, entry] of thirdParty) {
      expect(entry.link, path).toBeUndefined();
      expect(entry.resolved ?? 'https://registry', path).toMatch(/^https:\/\//);
      expect(entry.integrity, path).toMatch(/^sha\d+-/);
    }
  });

  for (const resolution of ['node16', 'bundler']) {
    it(`type-check a consumer of every entry point and the TypeScript README examples (moduleResolution ${resolution}, strict, skipLibCheck off)`, async () => {
      const out = resolution === 'node16' ? await compileNode16() : await node([TSC, '-p', `tsconfig.${resolution}.json`], project, 300_000);
      expect(out.code, describeOutcome(`tsc -p tsconfig.${resolution}.json`, out)).toBe(0);
    }, 300_000);
  }

  it('load in Node.js: every entry point has exports at run time', async () => {
    const out = await node([await compiledFile('entries.ts')], project, 60_000);
    expect(out.code, describeOutcome('node out/entries.js', out)).toBe(0);
    const loaded = new Map(out.stdout.trim().split('\n').map((line) => [line.split(' ')[0], Number(line.split(' ')[1])] as const));
    for (const entry of packed.flatMap((p) => entryPoints(p.manifest))) expect(loaded.get(entry), entry).toBeGreaterThan(0);
  }, 300_000);
});

describe('each README example, run against the installed packages', () => {
  for (const ws of workspaces) {
    const example = ws.example;
    const needsBroker = !(example instanceof Error) && example.needsKafka;
    it.runIf(!needsBroker || kafka.brokers !== null)(`${ws.manifest.name}: runs and prints what its README says`, async () => {
      if (example instanceof Error) throw example;
      const file = exampleFile(ws, example);
      const env: Record<string, string> = needsBroker ? { KAFKA_BROKERS: kafka.brokers! } : {};
      let out: Outcome;
      if (example.runner === 'vitest') {
        out = await node([join(project, 'node_modules/vitest/vitest.mjs'), 'run', file], project, 120_000, env);
      } else {
        const program = example.lang === 'ts' ? await compiledFile(file) : join(project, file);
        // Run where the example is, so files it writes (events.ndjson) stay in its own folder.
        out = await node([program], dirname(program), 120_000, env);
      }
      const what = `packages/${ws.dir}/README.md example (line ${example.line})`;
      expect(out.code, describeOutcome(what, out)).toBe(0);
      for (const text of example.prints) expect(out.stdout, describeOutcome(`${what} did not print ${JSON.stringify(text)}:`, out)).toContain(text);
    }, 300_000);
  }
});

describe('the installed trackpipe bin', () => {
  const bin = (): string => join(project, 'node_modules/.bin/trackpipe');
  const run = (args: string[], timeoutMs = 30_000): Promise<Outcome> => runCommand(bin(), args, { cwd: project, env: cleanEnv(), timeoutMs });

  it('prints its usage and its version', async () => {
    const help = await run(['--help']);
    expect(help.code, describeOutcome('trackpipe --help', help)).toBe(0);
    expect(help.stdout).toContain('trackpipe serve');
    expect(help.stdout).toContain('trackpipe validate');
    const version = await run(['--version']);
    expect(version.code, describeOutcome('trackpipe --version', version)).toBe(0);
    expect(version.stdout.trim()).toBe(packed.find((p) => p.manifest.name === '@trackpipe/service')?.manifest.version);
  });

  it('validates a good configuration (exit 0) and names the bad path of a bad one (exit 2)', async () => {
    writeFileSync(join(project, 'good.yaml'), 'pipelines:\n  - name: flags\n    exporters:\n      - type: file\n        path: events.ndjson\n');
    const good = await run(['validate', '--config', 'good.yaml']);
    expect(good.code, describeOutcome('trackpipe validate --config good.yaml', good)).toBe(0);
    expect(good.stdout).toContain('configuration is valid: good.yaml');
    writeFileSync(join(project, 'bad.yaml'), 'pipelines:\n  - name: flags\n    batch: { maxBatchSize: -1 }\n    exporters:\n      - type: file\n        path: events.ndjson\n');
    const bad = await run(['validate', '--config', 'bad.yaml']);
    expect(bad.code, describeOutcome('trackpipe validate --config bad.yaml', bad)).toBe(2);
    expect(bad.stdout + bad.stderr).toContain('pipelines[0].batch.maxBatchSize');
  });

  it('serves HTTP and gRPC, accepts a batch, and drains on SIGTERM with exit 0', async () => {
    const child = spawn(bin(), ['serve', '--port', '0', '--grpc-port', '0'], { cwd: project, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      let listening: { http?: string; grpc?: string } | undefined;
      while (listening === undefined) {
        listening = stdout
          .split('\n')
          .flatMap((line) => {
            try {
              const parsed = JSON.parse(line) as { msg?: string; http?: string; grpc?: string };
              return parsed.msg === 'listening' ? [parsed] : [];
            } catch {
              return [];
            }
          })
          .at(0);
        if (listening !== undefined) break;
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no "listening" line\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(listening.grpc, stdout).toBeDefined();
      const response = await fetch(`${String(listening.http)}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ batch: [{ name: 'signup' }, { name: 'feature_flag.evaluation', flagKey: 'new-checkout', value: true }] }),
      });
      expect(response.status).toBe(202);
      expect(await response.json()).toMatchObject({ accepted: 2 });
      child.kill('SIGTERM');
      expect(await exited, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout).toContain('"msg":"stopped: every accepted event was flushed"');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
