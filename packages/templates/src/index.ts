export { checkTemplate, channelEntries, type PreparedTemplate } from './check-template.ts';
export { DEFAULT_RENDER_LIMITS, OUTPUT_LIMITS, SOURCE_LIMITS, type RenderLimits } from './limits.ts';
export { createEngine, liquidMessage, type EngineOptions } from './liquid-engine.ts';
export { localeChain, pickLocale } from './locale.ts';
export type { RenderedContent, RenderFailureKind, RenderOutcome, VariantSource } from './render-protocol.ts';
export { TemplateRenderer, type RenderItem, type TemplateRendererOptions } from './template-renderer.ts';
export { templateSchema, VARIANT_FIELDS, type Template, type TemplateVariant, type VariantField } from './template-schema.ts';
export { compileVariablesSchema, undeclaredReason, type VariablesCheck } from './variables-schema.ts';
export { CompileFailure, compileVariant, renderVariant, type CompiledVariant } from './render-variant.ts';
