import { Show } from 'solid-js'
import type { SpaceStatus } from '../../core/space.js'
import { formatTime } from '../format.js'
import type { Role } from '../session.js'

/** Connecting / online / offline, how many local changes the relay does not have yet, and when we last synced. */
export interface StatusBarProps {
  readonly status: SpaceStatus
  readonly role: Role
  readonly alerts: number
  readonly onSecurity: () => void
}

export function StatusBar (props: StatusBarProps) {
  const label = (): string => props.status.connection === 'online' ? 'Online' : props.status.connection === 'offline' ? 'Offline' : 'Connecting…'
  return (
    <div class="status" role="status" aria-live="polite" data-testid="status">
      <span class={`dot ${props.status.connection}`} aria-hidden="true" />
      <span data-testid="connection">{label()}</span>
      <span class="sep">·</span>
      <span data-testid="unsynced">
        {props.status.unsynced === 0 ? 'All changes on the relay' : `${props.status.unsynced} ${props.status.unsynced === 1 ? 'change' : 'changes'} not yet on the relay`}
      </span>
      <span class="sep">·</span>
      <span class="muted">Last synced {formatTime(props.status.lastSyncedAt)}</span>
      <Show when={props.role === 'follower'}><span class="muted">(through another tab)</span></Show>
      <Show when={props.alerts > 0}>
        <button type="button" class="alert-badge" data-testid="alert-badge" onClick={() => props.onSecurity()}>{props.alerts} security {props.alerts === 1 ? 'alert' : 'alerts'}</button>
      </Show>
    </div>
  )
}
