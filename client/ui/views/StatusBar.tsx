import { Show } from 'solid-js'
import type { ConnectionState, SpaceStatus } from '../../core/space.js'
import { formatTime } from '../format.js'
import { networkUp } from '../network.js'
import type { Role } from '../session.js'

/** Connecting / online / offline, how many local changes the relay does not have yet, and when we last synced. */
export interface StatusBarProps {
  readonly status: SpaceStatus
  readonly role: Role
  readonly alerts: number
  readonly onSecurity: () => void
}

/**
 * What the connection state means to a person: with no network the browser knows (and says so
 * first), otherwise a closed connection means the relay cannot be reached (issue 9.6).
 */
export function connectionLabel (connection: ConnectionState, network: boolean): string {
  if (connection === 'online') return 'Online'
  if (!network) return 'Offline: no network'
  return connection === 'offline' ? 'Relay unreachable' : 'Connecting…'
}

export function StatusBar (props: StatusBarProps) {
  const label = (): string => connectionLabel(props.status.connection, networkUp())
  const dot = (): string => props.status.connection === 'online' ? 'online' : !networkUp() || props.status.connection === 'offline' ? 'offline' : 'connecting'
  return (
    <div class="status" role="status" aria-live="polite" data-testid="status">
      <span class={`dot ${dot()}`} aria-hidden="true" />
      <span data-testid="connection">{label()}</span>
      <span class="sep">·</span>
      <span data-testid="unsynced">
        {props.status.unsynced === 0 ? 'All changes on the relay' : `${props.status.unsynced} ${props.status.unsynced === 1 ? 'change' : 'changes'} not yet on the relay`}
      </span>
      <span class="sep">·</span>
      <span class="muted" data-testid="last-synced">Last synced {formatTime(props.status.lastSyncedAt)}</span>
      <Show when={props.role === 'follower'}><span class="muted">(through another tab)</span></Show>
      <Show when={props.alerts > 0}>
        <button type="button" class="alert-badge" data-testid="alert-badge" onClick={() => props.onSecurity()}>{props.alerts} security {props.alerts === 1 ? 'alert' : 'alerts'}</button>
      </Show>
    </div>
  )
}
