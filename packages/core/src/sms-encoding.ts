/**
 * SMS encoding and part count (3GPP TS 23.038 / 23.040). A text made only of the GSM 7-bit
 * default alphabet and its extension table goes as GSM-7, anything else as UCS-2.
 *
 * Limits: one part carries 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2); a
 * concatenated message loses 7 septets / 3 code units per part to the user-data header,
 * so each part then carries 153 / 67. Extension characters take 2 septets (escape +
 * code); an emoji or any other character outside the Basic Multilingual Plane takes 2
 * code units (a surrogate pair). Neither pair may be split across two parts (handsets
 * would show garbage), so parts are filled greedily and a pair that does not fit starts
 * the next one: 152 'a' + '€' + 152 'a' is 306 septets but 3 parts, not 2.
 */

export const SMS_ENCODINGS = ['gsm-7', 'ucs-2'] as const;
export type SmsEncoding = (typeof SMS_ENCODINGS)[number];

/** How an SMS text goes over the air. */
export interface SmsEncodingInfo {
  readonly encoding: SmsEncoding;
  /** Parts (segments) the provider bills for; 0 for an empty text. */
  readonly parts: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text. */
  readonly units: number;
}

// The default alphabet, in code order 0x00-0x7F less 0x1B (the escape to the extension table).
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
// The extension table's characters every handset knows; each is sent as escape + code.
const GSM_EXTENSION = '\f^{}\\[~]|€';

const BASIC = new Set(GSM_BASIC);
const EXTENSION = new Set(GSM_EXTENSION);

const LIMITS = {
  'gsm-7': { single: 160, perPart: 153 },
  'ucs-2': { single: 70, perPart: 67 },
} as const;

/** Septets of one character in GSM-7, or undefined when GSM-7 cannot carry it. */
function septets(char: string): 1 | 2 | undefined {
  if (BASIC.has(char)) return 1;
  if (EXTENSION.has(char)) return 2;
  return undefined;
}

/** The encoding an SMS text needs and the parts it takes. */
export function smsEncoding(text: string): SmsEncodingInfo {
  // Iterating a string yields code points, so a surrogate pair is one weight-2 item.
  const chars = [...text];
  const gsm = chars.map(septets);
  const isGsm = gsm.every((weight) => weight !== undefined);
  const encoding: SmsEncoding = isGsm ? 'gsm-7' : 'ucs-2';
  const weights = isGsm ? gsm : chars.map((char) => char.length);
  const units = weights.reduce((sum, weight) => sum + weight, 0);
  return { encoding, units, parts: partCount(weights, units, LIMITS[encoding]) };
}

function partCount(
  weights: readonly number[],
  units: number,
  limits: { single: number; perPart: number },
): number {
  if (units === 0) return 0;
  if (units <= limits.single) return 1;
  let parts = 1;
  let filled = 0;
  for (const weight of weights) {
    if (filled + weight > limits.perPart) {
      parts += 1;
      filled = 0;
    }
    filled += weight;
  }
  return parts;
}
