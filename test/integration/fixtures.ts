// Alert events and anomalies to send in the adapters' integration tests.
import type { Alert, Anomaly } from "@llm-sentinel/core"
import { Anomaly as Anomalies, Series } from "@llm-sentinel/core"

export const key = Series.makeKey("checkout", "gpt-4o", "latencyMs")

export const alert = (i: number, over: Partial<Alert.Alert> = {}): Alert.Alert => ({
  id: Anomalies.makeId(key.id, "alert", 1_700_000_000_000 + i * 60_000),
  series: key,
  status: "open",
  severity: "critical",
  openedAt: 1_700_000_000_000 + i * 60_000,
  lastAnomalyAt: 1_700_000_000_000 + i * 60_000,
  resolvedAt: null,
  anomalies: 1,
  detectors: ["mad"],
  reason: "value 812 above expected 240 [180, 300], score 9.1",
  ...over
})

export const opened = (i: number): Alert.AlertEvent => ({ _tag: "opened", alert: alert(i) })

export const resolved = (i: number): Alert.AlertEvent => {
  const a = alert(i)
  return {
    _tag: "resolved",
    alert: { ...a, status: "resolved", resolvedAt: a.openedAt + 300_000, anomalies: 4, detectors: ["mad", "seasonal"] }
  }
}

export const anomaly = (i: number, service = "checkout"): Anomaly.Anomaly => {
  const k = Series.makeKey(service, "gpt-4o", "latencyMs", { environment: "prod" })
  const time = 1_700_000_000_000 + i * 1000
  return {
    id: Anomalies.makeId(k.id, "mad", time),
    series: { id: k.id, service: k.service, model: k.model, metric: k.metric, dimensions: k.dimensions },
    detector: "mad",
    time,
    observed: 800 + i,
    expected: 240.5,
    lower: 180,
    upper: 300.25,
    score: 9 + i / 1000,
    severity: i % 2 === 0 ? "critical" : "warning",
    reason: `value ${800 + i} above expected 240.5, "quoted" \\ back`,
    detectedAt: time + 5
  }
}
