import { isUtf8 } from 'node:buffer';
import { InvalidEncodingError, MalformedJsonError, NestingTooDeepError, PayloadTooLargeError } from './errors.ts';

/** How much JSON input a door (REST body, Kafka record value) takes. */
export interface JsonInputLimits {
  /** Largest input, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of objects and arrays; the top-level value is depth 1. */
  readonly maxDepth: number;
}

/**
 * Default nesting limit. A batch item's free-form `metadata` sits at depth 4 of the
 * body, and the journal stores the body inside a document (MongoDB refuses more than
 * 100 levels; the driver's serializer recurses per level): 32 leaves room for any real
 * payload and keeps every later step far from a stack overflow.
 */
export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * Parses JSON input the way every door must, before anything else touches it: size,
 * then strict UTF-8 (a bad byte would silently become U+FFFD), then nesting depth (a
 * deep value parses fine but overflows the stack of whatever recurses over it later:
 * the journal's serializer, JSON.stringify), then JSON itself, then lone surrogates
 * escaped as `\uD800` (valid JSON, but not storable as UTF-8 text either). Each failure
 * is the client's error, with its own code; none is worth retrying.
 */
export function parseJsonInput(bytes: Uint8Array, limits: JsonInputLimits): unknown {
  if (bytes.length > limits.maxBytes) throw new PayloadTooLargeError(limits.maxBytes);
  if (!isUtf8(bytes)) {
    throw new InvalidEncodingError(`input is not valid UTF-8 (first bad byte at offset ${firstInvalidUtf8Offset(bytes)})`);
  }
  if (nestingDepth(bytes) > limits.maxDepth) throw new NestingTooDeepError(limits.maxDepth);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new MalformedJsonError(cause);
  }
  // Only an escape can make a lone surrogate (valid UTF-8 cannot encode one), so the
  // walk over the value runs only for input that has a surrogate escape at all.
  if (/\\u[dD][89a-fA-F]/.test(text)) {
    const path = loneSurrogatePath(value);
    if (path !== undefined) {
      throw new InvalidEncodingError(`${path || '/'}: contains a lone UTF-16 surrogate`, [
        { path, message: 'contains a lone UTF-16 surrogate (\\uD800-\\uDFFF not in a pair)' },
      ]);
    }
  }
  return value;
}

/**
 * The deepest nesting of `{` and `[` outside strings, counted in one pass over the
 * bytes without recursion. Bytes of multi-byte UTF-8 characters are all >= 0x80, so
 * they never look like brackets or quotes.
 */
export function nestingDepth(bytes: Uint8Array): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i += 1) {
    const byte = bytes[i];
    if (inString) {
      if (byte === 0x5c) i += 1; // backslash: the next byte is escaped
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (byte === 0x7d || byte === 0x5d) depth -= 1;
  }
  return deepest;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence (error path only). */
function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    // Second-byte range per lead byte (RFC 3629 table): excludes overlong forms and surrogates.
    const [length, low, high] =
      lead >= 0xc2 && lead <= 0xdf ? [2, 0x80, 0xbf]
      : lead === 0xe0 ? [3, 0xa0, 0xbf]
      : lead === 0xed ? [3, 0x80, 0x9f]
      : lead >= 0xe1 && lead <= 0xef ? [3, 0x80, 0xbf]
      : lead === 0xf0 ? [4, 0x90, 0xbf]
      : lead === 0xf4 ? [4, 0x80, 0x8f]
      : lead >= 0xf1 && lead <= 0xf3 ? [4, 0x80, 0xbf]
      : [0, 0, 0];
    if (length === 0) return i;
    const second = bytes[i + 1] ?? -1;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k += 1) {
      const next = bytes[i + k] ?? -1;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += length;
  }
  return bytes.length;
}

/** The JSON pointer of the first string (value or key) holding a lone surrogate. */
function loneSurrogatePath(root: unknown): string | undefined {
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, path } = item;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return path;
    } else if (Array.isArray(value)) {
      value.forEach((element, index) => stack.push({ value: element, path: `${path}/${index}` }));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, element] of Object.entries(value)) {
        const child = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        if (!key.isWellFormed()) return child;
        stack.push({ value: element, path: child });
      }
    }
  }
  return undefined;
}
