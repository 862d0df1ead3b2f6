/**
 * Resolves once `p` settles (either way) or after `ms`, whichever is first, and leaves no timer
 * behind: a closing session waits for best-effort work this way, and a CLI process must exit as
 * soon as its work is done, not when a forgotten 5 s timer fires.
 */
export function within (p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (p === undefined) return Promise.resolve()
  let timer: ReturnType<typeof setTimeout> | undefined
  const bound = new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })
  return Promise.race([p.then(() => {}, () => {}), bound]).finally(() => clearTimeout(timer))
}
