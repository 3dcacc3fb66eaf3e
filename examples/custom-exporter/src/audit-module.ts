import { ContainerModule } from 'inversify';
import { type ExporterFactory, TOKENS } from '@trackpipe/core';
import { AuditExporterFactory } from './audit-exporter.js';

/**
 * Contributes the `audit` exporter type: `createCollector(config, { modules: [auditModule] })`. The
 * factory joins the built-in ones under TOKENS.ExporterFactory; the container constructs it (once)
 * with the Logger and MetricsRegistry bound in that container.
 */
export const auditModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).to(AuditExporterFactory).inSingletonScope();
});
