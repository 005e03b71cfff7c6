// Every bound on a template, in one place: what its sources may be, what it may render
// to, and what rendering one message may cost. No imports, so the render worker loads
// nothing else.

/** Size limits of a template's sources, in characters. */
export const SOURCE_LIMITS = {
  subject: 2_000,
  text: 20_000,
  html: 200_000,
  mjml: 200_000,
  partial: 20_000,
  /** All of a template document, as JSON. */
  document: 1_000_000,
} as const;

/**
 * Most characters a rendered field may have: what a message's content may hold
 * (messageContentSchema), so a rendered message is never one a producer could not send.
 */
export const OUTPUT_LIMITS = { subject: 998, text: 10_000, html: 200_000 } as const;

/**
 * How much one message's templates may cost. LiquidJS checks these cooperatively (its
 * docs: they are thresholds, not a sandbox), so the render worker adds a hard time
 * limit and a heap cap of its own (TemplateRendererOptions).
 */
export interface RenderLimits {
  /** Time all the fields of one message's templates may take to render, ms. Default 50. */
  readonly renderMs: number;
  /** Bytes LiquidJS may allocate in its memory-counted filters and loops per render. Default 10 000 000. */
  readonly memoryBytes: number;
  /** Characters parsed per field, partials included. Default 300 000. */
  readonly parseChars: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { renderMs: 50, memoryBytes: 10_000_000, parseChars: 300_000 };
