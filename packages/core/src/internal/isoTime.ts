// Strict reading of ISO 8601 date-times with a time zone. `Date.parse` is lenient: it rolls `2025-11-31` over to
// December 1st and accepts hours like 24:30 in some forms, so a typo would become a valid but wrong event time.
// Every component is range-checked here before the date is computed, and the result must be a valid JS date.

const pattern = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/

/** The largest magnitude of a valid JS `Date` in epoch milliseconds (±100,000,000 days). */
export const maxDateMs = 8.64e15

const daysIn = (year: number, month: number): number =>
  month === 2
    ? year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31

/** Epoch milliseconds of an ISO 8601 date-time with a time zone, or `undefined` when it is not one or impossible. */
export const parseIsoDateTime = (s: string): number | undefined => {
  const m = pattern.exec(s)
  if (m === null) return undefined
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const hour = Number(m[4])
  const minute = Number(m[5])
  const second = m[6] === undefined ? 0 : Number(m[6])
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  let offsetMinutes = 0
  if (m[8] === undefined) {
    const oh = Number(m[10])
    const om = Number(m[11])
    if (oh > 23 || om > 59) return undefined
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om)
  }
  const fraction = m[7] === undefined ? 0 : Math.floor(Number(`0${m[7]}`) * 1000)
  const utc =
    year >= 100
      ? Date.UTC(year, month - 1, day, hour, minute, second, fraction)
      : smallYear(year, month, day) + ((hour * 60 + minute) * 60 + second) * 1000 + fraction
  const t = utc - offsetMinutes * 60_000
  return Number.isFinite(t) && Math.abs(t) <= maxDateMs ? t : undefined
}

// Date.UTC reads years 0–99 as 1900–1999; setUTCFullYear takes the year as it is
const smallYear = (year: number, month: number, day: number): number => {
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  return d.getTime()
}
