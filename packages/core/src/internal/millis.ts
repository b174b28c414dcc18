// Duration inputs as milliseconds, for the constructors that validate them (windows, watermarks, the alert
// policy, the pipeline's intervals); `undefined` when the input is not a duration.
import { Duration } from "effect"

export const toMillis = (input: Duration.Input): number | undefined => {
  const d = Duration.fromInput(input)
  if (d._tag === "None") return undefined
  const ms = Duration.toMillis(d.value)
  return Number.isNaN(ms) ? undefined : ms
}
