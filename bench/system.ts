/**
 * The seam between the system-agnostic measurements (measure.ts) and a concrete sync system.
 *
 * Two systems implement it: the plaintext y-websocket baseline (plaintext.ts) and Cove, the
 * encrypted relay (cove.ts). Everything a measurement needs from a system goes through these few
 * methods, so both are measured by the very same code.
 */
import type * as Y from 'yjs'

/** A running relay/server in a child process. */
export interface BenchServer {
  /** Base URL clients connect to, e.g. `ws://127.0.0.1:41234`. */
  readonly url: string
  /**
   * Pid of the process that does the server's work: its CPU time and RSS are read from
   * /proc/<pid>/stat and /proc/<pid>/status. Must be the real server process, not a wrapper
   * that forks it (e.g. `node build/relay.mjs` or `node --import tsx relay/main.ts`, not the `tsx` CLI).
   */
  readonly pid: number
  /** Stops the process and resolves once it has exited. */
  stop(): Promise<void>
}

/** Application payload bytes of WebSocket messages, cumulative over the client's lifetime. */
export interface WireStats {
  /** Bytes of messages sent (payload only: no WebSocket framing, TLS or TCP overhead). */
  readonly sent: number
  /** Bytes of messages received (payload only). */
  readonly received: number
}

/** A client in the benchmark's own process, editing the room's document. */
export interface BenchClient {
  /** The client's local document. Every system edits/observes the Y.Text named 'text'. */
  readonly doc: Y.Doc
  /** `doc.getText('text')`. */
  readonly text: Y.Text
  /** Resolves once the current connection has completed its initial sync with the server. */
  synced(): Promise<void>
  /**
   * Drops the connection but keeps all local state (document, keys, cursors into the server's
   * log...), as a device going offline does. Used by the warm-join measurement.
   */
  offline(): Promise<void>
  /** Reconnects after `offline()` with the kept local state; resolves once the attempt started. */
  online(): Promise<void>
  /** Wire bytes of this client so far (all its connections). */
  wire(): WireStats
  /** Closes connections and timers; the process must be able to exit afterwards. */
  destroy(): Promise<void>
  /**
   * Payload bytes and messages so far by message kind (systems with several, e.g. Cove's frame
   * types), for diagnostics: where the bytes of `wire()` go.
   */
  wireByKind?(): Record<string, { sent: number, received: number, sentMsgs: number, receivedMsgs: number }>
  /** Snapshots this client offered its server and how many were kept (systems that make them). */
  snapshotStats?(): { attempts: number, stored: number }
}

/** The cheapest honest idle connection: it completed the join handshake and then sits idle. */
export interface IdleConnection {
  close(): void
}

/** Options for {@link BenchSystem.startServer}. */
export interface ServerOptions {
  /**
   * Keep rooms on disk the way the system's stock server does (plaintext: the stock server's
   * y-leveldb persistence, `YPERSISTENCE`; Cove always keeps its SQLite database).
   */
  persist?: boolean
}

/** Bytes of a server's data directory (every file in it, e.g. SQLite's -wal, LevelDB's logs). */
export interface DiskBytes {
  /** While the server runs, after it pruned what it prunes by itself. */
  live: number
  /** After the server stopped and its store was compacted by the store's own means (SQLite VACUUM, LevelDB compaction). */
  compacted: number
}

/** A sync system under test. */
export interface BenchSystem {
  /** Short name used in tables and JSON, e.g. 'plaintext' or 'cove'. */
  readonly name: string
  /** Starts a fresh server in a child process (each measurement gets its own). */
  startServer(opts?: ServerOptions): Promise<BenchServer>
  /**
   * Creates a room (a document/space) and returns an opaque handle that `connect` and
   * `connectIdle` accept. For plaintext it is just a name; for Cove it carries what a member needs
   * to join (space id, keys), as created by the first writer.
   */
  createRoom(server: BenchServer): Promise<string>
  /** Connects a new client with an empty local state to `room`. */
  connect(server: BenchServer, room: string): Promise<BenchClient>
  /**
   * Opens a connection that completes the system's join/sync handshake with an empty document and
   * then idles; resolves after the handshake. Used to measure server memory per connection, so it
   * should carry no client-side document machinery beyond what the handshake needs.
   */
  connectIdle(server: BenchServer, room: string): Promise<IdleConnection>
  /**
   * Bytes the server must persist for `room` after compaction/pruning. `doc` is a client's converged
   * copy of the room, for systems (plaintext) whose server keeps the state only in memory.
   */
  storageBytes(server: BenchServer, room: string, doc: Y.Doc): Promise<number>
  /**
   * The server's data directory on disk, counted the same way for every system (a server started
   * with `persist`; holding only `room`). Stops the server to compact it: call it last. `doc` is a
   * converged copy of the room, to check the stored room against.
   */
  diskBytes(server: BenchServer, room: string, doc: Y.Doc): Promise<DiskBytes>
}
