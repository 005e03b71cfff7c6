// The messages between TemplateRenderer (the process) and its render worker.
import type { Channel } from '@commstrat/core';
import type { RenderLimits } from './limits.ts';

/** One channel-and-locale variant of one template version, as the worker compiles it. */
export interface VariantSource {
  readonly channel: Channel;
  /** The locale of the variant (for the date filter). */
  readonly locale: string;
  readonly partials?: Readonly<Record<string, string>> | undefined;
  readonly subject?: string | undefined;
  readonly text?: string | undefined;
  readonly html?: string | undefined;
  readonly mjml?: string | undefined;
}

/** What a variant rendered to; a field that rendered empty is left out. */
export interface RenderedContent {
  readonly subject?: string;
  readonly text?: string;
  readonly html?: string;
}

/** Why a render was refused. */
export type RenderFailureKind =
  /** The template failed on these variables: a filter's error, a limit of LiquidJS, too much output. */
  | 'render'
  /** The MJML does not compile. */
  | 'mjml'
  /** The worker took longer than its hard limit and was restarted. */
  | 'timeout'
  /** The worker died (most often: over its heap cap) and was restarted. */
  | 'crashed';

export type RenderOutcome =
  | { readonly ok: true; readonly content: RenderedContent }
  | { readonly ok: false; readonly kind: RenderFailureKind; readonly message: string; readonly field?: string };

/**
 * One variant to render. `key` names the compiled variant in the worker (tenant,
 * template, version, channel, locale: a stored version never changes, so neither does
 * what it compiles to); `source` goes along only the first time. Without `variables`
 * it is only compiled: the check of a save.
 */
export interface WorkerItem {
  readonly key: string;
  readonly source?: VariantSource;
  readonly variables?: unknown;
}

export interface WorkerJob {
  readonly id: number;
  readonly limits: RenderLimits;
  readonly items: readonly WorkerItem[];
}

/** `missing`: the worker no longer holds the key's compiled form; send the job again with sources. */
export type WorkerReply = RenderOutcome | { readonly ok: false; readonly missing: true };

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly id: number; readonly replies: readonly WorkerReply[] };
