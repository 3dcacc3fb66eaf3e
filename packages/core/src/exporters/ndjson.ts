import { open, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { Encoder, ExportBatch, ExportResult, Exporter } from '../contracts.js';
import { ExportResults } from '../contracts.js';
import type { Recorded, TelemetryEvent } from '../events.js';

/** Options of an {@link NdjsonExporter}. */
export interface NdjsonExporterOptions<E> {
  /**
   * Where lines go: `"stdout"` (default), `"stderr"`, `{ path }` for a file opened in append mode
   * (created if missing), or any Writable stream.
   */
  destination?: 'stdout' | 'stderr' | { path: string } | Writable;
  /** Name in logs and metric labels. Default `"console"` for the standard streams, `"file"` for files, else `"ndjson"`. */
  name?: string;
  /** Line serializer. Default JSON. */
  encoder?: Encoder<E>;
}

// Errors worth another try: the disk or the process may recover.
const TRANSIENT = new Set(['ENOSPC', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE', 'EIO', 'EINTR']);

/** Writes each event as one JSON line to the console, a file or a stream; batches one at a time, in the order they are exported. */
export class NdjsonExporter<E = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  readonly encoder: Encoder<E> | undefined;
  readonly #destination: 'stdout' | 'stderr' | { path: string } | Writable;
  #file: Promise<FileHandle> | undefined;
  /**
   * The write before this one. Writes go one at a time, in the order export() was called: a file's
   * appendFile writes a large text in chunks, and two exports at once (the processor runs two by
   * default) interleaved their chunks, cutting lines in half.
   */
  #previous: Promise<unknown> = Promise.resolve();

  constructor(options: NdjsonExporterOptions<E> = {}) {
    this.#destination = options.destination ?? 'stdout';
    const d = this.#destination;
    this.name = options.name ?? (d === 'stdout' || d === 'stderr' ? 'console' : 'path' in d ? 'file' : 'ndjson');
    this.encoder = options.encoder;
  }

  export(batch: ExportBatch<E>): Promise<ExportResult> {
    const text = `${batch.encoded.join('\n')}\n`;
    const written = this.#previous.then(() => this.#write(text));
    this.#previous = written;
    return written;
  }

  async #write(text: string): Promise<ExportResult> {
    try {
      const d = this.#destination;
      if (typeof d === 'object' && 'path' in d) {
        this.#file ??= open(d.path, 'a');
        await (await this.#file).appendFile(text);
      } else {
        const stream = d === 'stdout' ? process.stdout : d === 'stderr' ? process.stderr : d;
        await new Promise<void>((resolve, reject) => stream.write(text, (error) => (error ? reject(error) : resolve())));
      }
      return ExportResults.ok();
    } catch (error) {
      if (this.#file !== undefined && (await this.#file.then(() => false, () => true))) this.#file = undefined;
      const code = (error as { code?: unknown }).code;
      return typeof code === 'string' && TRANSIENT.has(code) ? ExportResults.retry({ error }) : ExportResults.reject({ error });
    }
  }

  async shutdown(): Promise<void> {
    await this.#previous;
    const file = this.#file;
    this.#file = undefined;
    if (file) await (await file).close();
  }
}
