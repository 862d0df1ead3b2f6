/**
 * The client's transport port: one bidirectional, message-oriented connection to a relay.
 * Adapters: `ws-transport.ts` (real WebSocket, browser or `ws` in Node) and
 * `memory-transport.ts` (an in-process relay core, for fast tests).
 */
export interface Connection {
  send (data: Uint8Array): void
  close (): void
}

export interface ConnectionHandlers {
  onOpen (): void
  onMessage (data: Uint8Array): void
  /** Called once, whether the connection failed to open or closed later. */
  onClose (reason: string): void
}

export interface Transport {
  connect (url: string, handlers: ConnectionHandlers): Connection
}
