/**
 * Float typed arrays as base64 of their little-endian bytes: the checkpoint encoding of detector state. A
 * `Float32Array(192)` is a 1,024-character string instead of a JSON array of 192 numbers (~2.5 KB of text, 192
 * boxed doubles on encode): encoding and decoding copy bytes instead of formatting and parsing decimals, and
 * the value round-trips exactly (NaN and ±Infinity included, which JSON numbers cannot hold).
 *
 * @internal
 */
import { Buffer } from "node:buffer"

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Strict base64 (RFC 4648, padded): `Buffer.from(s, "base64")` would skip anything else silently. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

type FloatArray = Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>

const swapped = (bytes: Uint8Array, width: number): Uint8Array => {
  const out = new Uint8Array(bytes.length)
  for (let i = 0; i < bytes.length; i += width) {
    for (let j = 0; j < width; j++) out[i + j] = bytes[i + width - 1 - j]!
  }
  return out
}

/** The array's entries as base64 of their little-endian bytes. */
export const encode = (arr: FloatArray): string => {
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength)
  const le = littleEndianHost ? bytes : swapped(bytes, arr.BYTES_PER_ELEMENT)
  return Buffer.from(le.buffer, le.byteOffset, le.byteLength).toString("base64")
}

/**
 * Why `s` is not the base64 of whole `width`-byte entries, or `undefined` when it is.
 */
export const problem = (s: string, width: number): string | undefined => {
  if (!BASE64.test(s)) return "not base64 (RFC 4648, padded)"
  const padding = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0
  const bytes = (s.length / 4) * 3 - padding
  return bytes % width === 0 ? undefined : `${bytes} bytes, not a whole number of ${width}-byte entries`
}

/**
 * Decodes base64 that {@link problem} accepted into `make(entries)` (a fresh, possibly slab-backed array).
 */
export const decode = <T extends FloatArray>(s: string, width: number, make: (length: number) => T): T => {
  const bytes = Buffer.from(s, "base64")
  const out = make(bytes.length / width)
  const view = new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  view.set(littleEndianHost ? bytes : swapped(bytes, width))
  return out
}
