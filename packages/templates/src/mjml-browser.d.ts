// mjml-browser ships no types; this is the one function the render worker calls.
declare module 'mjml-browser' {
  interface MjmlError {
    readonly line: number;
    readonly message: string;
    readonly tagName: string;
    readonly formattedMessage: string;
  }
  export default function mjml2html(
    source: string,
    options?: { readonly validationLevel?: 'strict' | 'soft' | 'skip'; readonly keepComments?: boolean },
  ): { readonly html: string; readonly errors: readonly MjmlError[] };
}
