/**
 * Small fixed-size typed arrays carved out of shared buffers: the per-series arrays of detector state (a
 * calibration histogram, seasonal buckets, a rolling window) without a backing store each.
 *
 * Every `new Float32Array(96)` costs a `JSArrayBuffer` object (96 B on the V8 heap) and a separately malloc'd
 * backing store with its bookkeeping: 878 bytes of RSS for an array of 384 data bytes, against 475 B for a view of
 * a shared buffer (the data and the view object), measured as the RSS growth of 300,000 such arrays on Node 24;
 * `npm run bench:memory` shows the effect at 100k series. The views are ordinary typed arrays: indexing, `fill`,
 * `set`, iteration and JSON encoding behave as usual; only their `buffer` is the shared chunk (so do not transfer
 * or `structuredClone` one to another thread, which would copy or detach the whole chunk).
 *
 * Chunks are {@link chunkBytes} large and never reused piecewise: a chunk's memory goes back when every view into
 * it is garbage. Arrays meant to live as long as their series (states of long-lived series) suit it; a chunk
 * outlived by one of its views keeps the rest of its bytes (at worst a chunk per surviving small array after heavy
 * series churn). Arrays above {@link pooledBytes} get a buffer of their own, as do arrays that are resized.
 *
 * @since 0.2.0
 */

/**
 * The size of a shared chunk, in bytes.
 *
 * @category constructors
 * @since 0.2.0
 */
export const chunkBytes = 32 * 1024

/**
 * The largest array, in bytes, carved out of a shared chunk; a larger one gets its own buffer.
 *
 * @category constructors
 * @since 0.2.0
 */
export const pooledBytes = 4 * 1024

let chunk = new ArrayBuffer(chunkBytes)
let used = 0

/**
 * A zeroed region of `byteLength` bytes, 8-byte aligned: a shared chunk's when small enough, else a buffer of its
 * own. Build any typed-array views on it, e.g. a `Float64Array` ring and its `Uint8Array` slot order side by side.
 *
 * @category constructors
 * @since 0.2.0
 */
export const region = (byteLength: number): { readonly buffer: ArrayBuffer; readonly byteOffset: number } => {
  if (byteLength > pooledBytes) return { buffer: new ArrayBuffer(byteLength), byteOffset: 0 }
  const size = (byteLength + 7) & ~7
  if (used + size > chunkBytes) {
    chunk = new ArrayBuffer(chunkBytes)
    used = 0
  }
  const byteOffset = used
  used += size
  return { buffer: chunk, byteOffset }
}

/**
 * A zeroed `Float64Array` of `length` entries.
 *
 * @category constructors
 * @since 0.2.0
 */
export const float64 = (length: number): Float64Array<ArrayBuffer> => {
  const r = region(length * 8)
  return new Float64Array(r.buffer, r.byteOffset, length)
}

/**
 * A zeroed `Float32Array` of `length` entries.
 *
 * @category constructors
 * @since 0.2.0
 */
export const float32 = (length: number): Float32Array<ArrayBuffer> => {
  const r = region(length * 4)
  return new Float32Array(r.buffer, r.byteOffset, length)
}

const fill = <A, T extends Float32Array<ArrayBuffer> | Float64Array<ArrayBuffer>>(
  out: T,
  values: ArrayLike<A>,
  map: ((a: A, i: number) => number) | undefined
): T => {
  for (let i = 0; i < values.length; i++) out[i] = map === undefined ? (values[i] as number) : map(values[i]!, i)
  return out
}

/**
 * A `Float64Array` holding `values` (each through `map` when given), like `Float64Array.from`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const float64From: {
  (values: ArrayLike<number>): Float64Array<ArrayBuffer>
  <A>(values: ArrayLike<A>, map: (a: A, i: number) => number): Float64Array<ArrayBuffer>
} = <A>(values: ArrayLike<A>, map?: (a: A, i: number) => number) => fill(float64(values.length), values, map)

/**
 * A `Float32Array` holding `values` (each through `map` when given; rounded to float32), like `Float32Array.from`.
 *
 * @category constructors
 * @since 0.2.0
 */
export const float32From: {
  (values: ArrayLike<number>): Float32Array<ArrayBuffer>
  <A>(values: ArrayLike<A>, map: (a: A, i: number) => number): Float32Array<ArrayBuffer>
} = <A>(values: ArrayLike<A>, map?: (a: A, i: number) => number) => fill(float32(values.length), values, map)
