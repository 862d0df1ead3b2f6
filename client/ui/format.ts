/** Human-readable sizes and times for the UI. */
export function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]!}`
}

/**
 * A time of day, with the date when it is not today: a last sync restored from storage may be
 * days old, and "10:42" alone would pass it off as this morning.
 */
export function formatTime (t: number | undefined, now = Date.now()): string {
  if (t === undefined) return 'never'
  const d = new Date(t)
  return d.toDateString() === new Date(now).toDateString() ? d.toLocaleTimeString() : d.toLocaleString()
}

/** How long ago `t` was, roughly ("just now", "5 min ago", "3 h ago", "2 days ago"). */
export function formatAge (t: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - t) / 1000))
  if (s < 60) return 'just now'
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86_400 * 2) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86_400)} days ago`
}
