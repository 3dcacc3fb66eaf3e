// The direct OTLP text encoder started here as an experiment (see what-we-tried.md, "OTLP format"):
// writing each log record as JSON text instead of building it as objects and stringifying them. It was
// proven byte-identical to the object-building encoder and moved into @trackpipe/exporter-http, whose
// `otlp` format now uses it (and encodes whole batches at once). This module keeps the experiment
// client (`trackpipe-otlp-direct`: the same records through a custom serializer, event by event)
// running on the package's encoder, so there is one OTLP mapping, not two.
export { encodeOtlpLogRecord as encodeOtlpLogRecordDirect } from '@trackpipe/exporter-http';
