/**
 * Series keys and metric points. A series is one `service × model × metric` (optionally refined by extra
 * dimensions such as `environment`); every detector keeps its state per series.
 *
 * Keys are interned by a {@link Registry}: the same (service, model, metric) always yields the same key object,
 * looked up through nested maps so the hot path builds no strings. The registry bounds cardinality: past
 * `maxSeries` new keys are refused and counted, never silently dropped.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The identity of one series. `id` is the canonical string form, `service/model/metric` (with
 * `;dim=value` pairs appended for extra dimensions), used in anomaly ids and storage.
 *
 * @category models
 * @since 0.1.0
 */
export interface SeriesKey {
  readonly id: string
  readonly service: string
  readonly model: string
  readonly metric: string
  readonly dimensions: Readonly<Record<string, string>>
}

/**
 * The JSON form of a series key.
 *
 * @category models
 * @since 0.1.0
 */
export const SeriesKeySchema = Schema.Struct({
  id: Schema.String,
  service: Schema.String,
  model: Schema.String,
  metric: Schema.String,
  dimensions: Schema.Record(Schema.String, Schema.String)
})

/**
 * One observation of one series at an event time (epoch milliseconds).
 *
 * @category models
 * @since 0.1.0
 */
export interface MetricPoint {
  readonly key: SeriesKey
  readonly time: number
  readonly value: number
}

const escapePart = (s: string): string => s.replaceAll("%", "%25").replaceAll("/", "%2F").replaceAll(";", "%3B")

/**
 * Builds a key without interning (for tests, queries and configuration). Use a {@link Registry} in hot paths.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeKey = (
  service: string,
  model: string,
  metric: string,
  dimensions: Readonly<Record<string, string>> = {}
): SeriesKey => {
  let id = `${escapePart(service)}/${escapePart(model)}/${escapePart(metric)}`
  for (const name of Object.keys(dimensions).sort()) id += `;${escapePart(name)}=${escapePart(dimensions[name] ?? "")}`
  return { id, service, model, metric, dimensions }
}

// the dimensions of every key without any (one frozen object, not one per series)
const noDimensions: Readonly<Record<string, string>> = Object.freeze({})
const noKeys: ReadonlyMap<string, SeriesKey> = new Map()

/**
 * Interns series keys with a bound on how many distinct series may exist.
 *
 * @category models
 * @since 0.1.0
 */
export interface Registry {
  /** The interned key, or `undefined` when the series would exceed `maxSeries` (counted in `overflow`). */
  readonly key: (service: string, model: string, metric: string, dimension?: string) => SeriesKey | undefined
  /**
   * The keys already interned for one service × model (× dimension), by metric: a cache for hot loops that look
   * up several metrics of the same event. Use {@link Registry.key} for metrics it does not hold yet.
   */
  readonly group: (service: string, model: string, dimension?: string) => ReadonlyMap<string, SeriesKey>
  readonly size: () => number
  /** How many lookups were refused because the registry was full. */
  readonly overflow: () => number
  readonly maxSeries: number
}

/**
 * Creates a registry. `dimension` names the one optional extra dimension carried by `key(…, dimension)` (for
 * example `environment`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeRegistry = (options: { readonly maxSeries?: number; readonly dimension?: string } = {}): Registry => {
  const maxSeries = options.maxSeries ?? 100_000
  const dimensionName = options.dimension
  // service → model → dimension → the group's keys by metric: the only index (one Map per service × model ×
  // dimension, not one per series: ~260 B each at 100k series)
  const groups = new Map<string, Map<string, Map<string, Map<string, SeriesKey>>>>()
  const groupOf = (service: string, model: string, dim: string): Map<string, SeriesKey> => {
    let byModel = groups.get(service)
    if (byModel === undefined) groups.set(service, (byModel = new Map()))
    let byDim = byModel.get(model)
    if (byDim === undefined) byModel.set(model, (byDim = new Map()))
    let group = byDim.get(dim)
    if (group === undefined) byDim.set(dim, (group = new Map()))
    return group
  }
  // the lookup alone (nothing made): what a full registry does
  const findGroup = (service: string, model: string, dim: string): Map<string, SeriesKey> | undefined =>
    groups.get(service)?.get(model)?.get(dim)
  let size = 0
  let overflow = 0
  const key = (service: string, model: string, metric: string, dimension?: string): SeriesKey | undefined => {
    const dim = dimension ?? ""
    if (size >= maxSeries) {
      // full: a lookup only, so that a flood of new names allocates nothing
      const found = findGroup(service, model, dim)?.get(metric)
      if (found === undefined) overflow++
      return found
    }
    const group = groupOf(service, model, dim)
    const found = group.get(metric)
    if (found !== undefined) return found
    const made = makeKey(
      service,
      model,
      metric,
      dimensionName !== undefined && dimension !== undefined ? { [dimensionName]: dimension } : noDimensions
    )
    group.set(metric, made)
    size++
    return made
  }
  const group = (service: string, model: string, dimension?: string): ReadonlyMap<string, SeriesKey> =>
    size >= maxSeries
      ? (findGroup(service, model, dimension ?? "") ?? noKeys)
      : groupOf(service, model, dimension ?? "")
  return { key, group, size: () => size, overflow: () => overflow, maxSeries }
}
