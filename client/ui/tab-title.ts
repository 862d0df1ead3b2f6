import { createEffect, onCleanup } from 'solid-js'

/**
 * The browser tab's title. It names the open space ("Trip — Cove"), so that several tabs, the
 * history list and the window switcher tell spaces apart; "Cove" elsewhere. The title stays on
 * this device (a tab title is never sent anywhere).
 */
export const APP_NAME = 'Cove'

/** The tab title for a space's title; `undefined` means no space is shown. */
export function tabTitle (spaceTitle: string | undefined): string {
  if (spaceTitle === undefined) return APP_NAME
  const t = spaceTitle.replace(/\s+/g, ' ').trim()
  return `${t === '' ? 'Untitled space' : t} — ${APP_NAME}`
}

/** Keeps the tab titled after `title()` while the calling component lives, then back to "Cove". */
export function useTabTitle (title: () => string): void {
  createEffect(() => { document.title = tabTitle(title()) })
  onCleanup(() => { document.title = APP_NAME })
}
