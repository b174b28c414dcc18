// The dashboard: live series (filtered and paged by the server), a uPlot chart of the selected series with its
// expected band and anomaly markers, warm-up progress, and the alert feed (SSE when the server has it, otherwise
// the alerting series). Plain ES module, no framework; data is only ever put into the page as text.
import uPlot from "./uplot.js"

const $ = (id) => document.getElementById(id)
const el = (tag, className, text) => {
  const e = document.createElement(tag)
  if (className) e.className = className
  if (text !== undefined) e.textContent = text
  return e
}
// API keys: a server with keys answers 401/403; the page then asks for a key (read scope), keeps it in
// sessionStorage (this tab only, gone when it closes) and sends it as Authorization: Bearer. EventSource cannot
// send headers: the stream is opened with a short-lived token from POST v1/stream/token instead.
const keyName = "sentinel.apiKey"
const storedKey = () => sessionStorage.getItem(keyName)
const askForKey = (status, sent) => {
  $("login").hidden = false
  // requests still in flight with no key (or the key just refused) must not clear the message of the refusal
  if (!sent) return
  $("login-error").textContent = status === 403 ? "This key lacks the read scope." : "This key is not valid."
  if (status !== 403 && storedKey() === sent) sessionStorage.removeItem(keyName)
}
const api = async (path, init = {}) => {
  const key = storedKey()
  const headers = { accept: "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) }
  const res = await fetch(path, { ...init, headers })
  if (res.status === 401 || res.status === 403) askForKey(res.status, key)
  if (!res.ok) throw Object.assign(new Error(`${path}: ${res.status}`), { status: res.status })
  return res.json()
}
const streamUrl = async (path, params = {}) => {
  const query = new URLSearchParams(params)
  if (storedKey()) query.set("access_token", (await api("v1/stream/token", { method: "POST" })).token)
  const q = query.toString()
  return q === "" ? path : `${path}?${q}`
}
const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3))

const state = { selected: null, cursor: null, items: [], chart: null, filters: {}, sse: false }

const origin = location.origin
// with keys, the example sends one: posting events needs the ingest scope (the page's key may only read)
const showCurl = () => {
  const auth = storedKey() ? `\n  -H "authorization: Bearer $SENTINEL_INGEST_KEY" \\` : ""
  $("curl").textContent = `curl -X POST ${origin}/v1/events \\${auth}
  -H 'content-type: application/json' \\
  -d '{"timestamp":"'$(date -u +%Y-%m-%dT%H:%M:%SZ)'","service":"chat","model":"gpt-4o","latencyMs":420,"inputTokens":900,"outputTokens":150}'`
}
showCurl()

const query = (extra) => {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(state.filters)) if (v) p.set(k, v)
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined) p.set(k, String(v))
  return p.toString()
}

const seriesItem = (s) => {
  const li = el("li")
  li.dataset.id = s.series.id
  if (s.series.id === state.selected) li.classList.add("selected")
  li.append(el("div", "id", s.series.id))
  const meta = el("div", "meta")
  meta.append(`last ${fmt(s.lastPoint?.value)} · ${s.anomalies} anomalies `)
  if (s.warmingUp) meta.append(el("span", "badge warming", "warming up"))
  if (s.alert) meta.append(el("span", `badge ${s.alert.severity}`, s.alert.severity))
  li.append(meta)
  li.addEventListener("click", () => select(s.series.id))
  return li
}

const loadSeries = async (append) => {
  const page = await api(`v1/series?${query({ limit: 100, cursor: append ? state.cursor : null })}`)
  state.items = append ? state.items.concat(page.items) : page.items
  state.cursor = page.next
  const filtered = Object.values(state.filters).some(Boolean)
  $("empty").hidden = page.total > 0 || filtered
  $("live").hidden = !$("empty").hidden
  $("count").textContent = `${page.total} series`
  $("series").replaceChildren(...state.items.map(seriesItem))
  $("more").hidden = page.next === null
  $("status").textContent = `updated ${new Date().toLocaleTimeString()}`
}

const select = async (id) => {
  state.selected = id
  for (const li of $("series").children) li.classList.toggle("selected", li.dataset.id === id)
  await loadChart()
}

const loadChart = async () => {
  if (state.selected === null) return
  const { series, points } = await api(`v1/series/${encodeURIComponent(state.selected)}/points`)
  const head = $("chart-head")
  head.replaceChildren(el("h2", "", series.series.id))
  const meta = el("p", "meta")
  meta.append(
    `${points.length} windows · mean ${fmt(series.stats.mean)} · min ${fmt(series.stats.min)} · max ${fmt(series.stats.max)} · ${series.anomalies} anomalies · `,
    series.detectors.map((d) => d.progress).join(", ")
  )
  head.append(meta)
  const t = points.map((p) => p.time / 1000)
  const data = [
    t,
    points.map((p) => p.value),
    points.map((p) => p.expected),
    points.map((p) => p.lower),
    points.map((p) => p.upper),
    points.map((p) => (p.anomalous ? p.value : null))
  ]
  const width = Math.max(320, $("chart").clientWidth || 640)
  if (state.chart === null || state.chart.series[1].label !== series.series.metric) {
    state.chart?.destroy()
    state.chart = new uPlot(
      {
        width,
        height: 320,
        series: [
          {},
          { label: series.series.metric, stroke: "#2f6fd6", width: 2 },
          { label: "expected", stroke: "#8a93a6", dash: [4, 4] },
          { label: "lower", stroke: "#c8ccd6", fill: "rgba(47,111,214,0.06)" },
          { label: "upper", stroke: "#c8ccd6", fill: "rgba(47,111,214,0.06)" },
          { label: "anomaly", stroke: "#c62828", width: 0, points: { show: true, size: 10, fill: "#c62828" } }
        ],
        bands: [{ series: [4, 3], fill: "rgba(47,111,214,0.08)" }]
      },
      data,
      $("chart")
    )
  } else state.chart.setData(data)
  $("chart").dataset.anomalies = String(points.filter((p) => p.anomalous).length)
}

const alertItem = (kind, a) => {
  const li = el("li", `${(a.status ?? a.state) === "resolved" ? "resolved" : a.severity}`)
  li.append(el("strong", "", `${kind} · ${a.severity}`), el("div", "id", a.series.id))
  li.append(el("div", "meta", `${new Date(a.lastAnomalyAt ?? a.openedAt).toISOString()} ${a.reason ?? ""}`))
  li.addEventListener("click", () => select(a.series.id))
  return li
}

const showAlert = (li) => {
  const list = $("alerts")
  for (const none of list.querySelectorAll(".none")) none.remove()
  list.prepend(li)
  while (list.children.length > 100) list.lastElementChild?.remove()
}

// The alert feed: the SSE stream when the server has it (it resumes with Last-Event-ID on reconnect), otherwise
// the series that have a firing alert, refreshed with the list.
// the id of the last alert event shown: a new stream (a new token) resumes after it, as EventSource's own
// reconnects do with Last-Event-ID
let lastEventId = null
const openStream = async () => {
  const source = new EventSource(
    await streamUrl("v1/stream/alerts", lastEventId === null ? {} : { after: lastEventId })
  )
  source.addEventListener("alert", (e) => {
    lastEventId = e.lastEventId
    const ev = JSON.parse(e.data)
    if (ev._tag === "storm") {
      // a storm summary concerns every series: a line of its own, nothing to select
      const li = el("li", "warning")
      li.append(el("strong", "", `storm · ${ev.suppressed} alerts suppressed`))
      li.append(el("div", "meta", new Date(ev.time).toISOString()))
      showAlert(li)
      return
    }
    showAlert(alertItem(ev._tag, ev.alert))
    void loadChart()
  })
  // a stream token is checked when the stream opens: after it expired, a reconnect needs a new one
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED && storedKey()) {
      setTimeout(() => void openStream().catch(() => {}), 5000)
    }
  })
}
const startAlerts = async () => {
  try {
    const page = await api("v1/alerts?limit=50")
    for (const a of page.items.reverse()) showAlert(alertItem(a.status === "open" ? "firing" : a.status, a))
    await openStream()
    state.sse = true
  } catch {
    state.sse = false
  }
}

const seriesId = (k) => k.id ?? `${k.service}/${k.model}/${k.metric}`

// Without the alert stream: the firing alerts of the alerting series, then the latest anomalies.
const alertingFallback = async () => {
  if (state.sse) return
  const page = await api("v1/series?state=alerting&limit=100")
  const items = page.items.map((s) =>
    alertItem("firing", {
      series: s.series,
      severity: s.alert.severity,
      state: "firing",
      lastAnomalyAt: s.lastAnomalyAt,
      reason: `${s.anomalies} anomalies`
    })
  )
  const anomalies = await api("v1/anomalies?limit=20")
  for (const a of anomalies.items) {
    items.push(
      alertItem(`anomaly (${a.detector})`, {
        series: { id: seriesId(a.series) },
        severity: a.severity,
        state: "anomaly",
        lastAnomalyAt: a.time,
        reason: a.reason
      })
    )
  }
  $("alerts").replaceChildren(...(items.length > 0 ? items : [el("li", "none", "No alert firing.")]))
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault()
  const key = $("key").value.trim()
  if (!key) return
  sessionStorage.setItem(keyName, key)
  $("key").value = ""
  $("login-error").textContent = ""
  $("login").hidden = true
  showCurl()
  void startAlerts().then(tick)
})

let timer = null
$("filters").addEventListener("input", () => {
  clearTimeout(timer)
  timer = setTimeout(() => {
    state.filters = Object.fromEntries(new FormData($("filters")))
    void loadSeries(false)
  }, 250)
})
$("more").addEventListener("click", () => void loadSeries(true))

const tick = async () => {
  try {
    await loadSeries(false)
    await alertingFallback()
    await loadChart()
  } catch (e) {
    $("status").textContent =
      e.status === 401 || e.status === 403 ? "API key needed" : `cannot reach Sentinel (${e.message})`
  }
}
await startAlerts()
await tick()
setInterval(tick, 2000)
