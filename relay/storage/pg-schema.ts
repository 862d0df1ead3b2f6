import type pg from 'pg'

/**
 * The PostgreSQL schema as numbered migrations (issue 12), applied at start inside one
 * transaction under an advisory lock, so k relays starting at once migrate once, and the next
 * change of schema is a new entry here rather than a hand edit on every database.
 *
 * Never edit an applied migration: append one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the log store (the SQLite schema, with the per-space counters folded into `spaces`).
  `
  CREATE TABLE spaces (
    id bytea PRIMARY KEY, access_pk bytea NOT NULL, write_pk bytea NOT NULL, created_at bigint NOT NULL,
    top bigint NOT NULL DEFAULT 0, pruned bigint NOT NULL DEFAULT 0, log_bytes bigint NOT NULL DEFAULT 0
  );
  -- One sequence for all spaces: cursors increase across spaces too (the contract suite checks it).
  CREATE SEQUENCE log_cursor;
  CREATE TABLE log (
    space bytea NOT NULL, cursor bigint NOT NULL, author bytea NOT NULL, stream bytea NOT NULL, seq bigint NOT NULL,
    hash bytea NOT NULL, env bytea NOT NULL, PRIMARY KEY (space, cursor)
  );
  CREATE UNIQUE INDEX log_stream ON log (space, author, stream, seq);
  CREATE TABLE heads (
    space bytea NOT NULL, author bytea NOT NULL, stream bytea NOT NULL, seq bigint NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY (space, author, stream)
  );
  CREATE TABLE snapshots (
    id bigserial PRIMARY KEY, space bytea NOT NULL, hash bytea NOT NULL, prev_hash bytea NOT NULL,
    covers bigint NOT NULL, env bytea NOT NULL
  );
  CREATE INDEX snapshots_space ON snapshots (space, id);
  CREATE TABLE attestations (snapshot bigint NOT NULL, device bytea NOT NULL, at bigint NOT NULL, PRIMARY KEY (snapshot, device));
  CREATE TABLE parts (
    id bigserial PRIMARY KEY, space bytea NOT NULL, hash bytea NOT NULL, env bytea NOT NULL,
    size bigint NOT NULL, stored_at bigint NOT NULL, linked boolean NOT NULL DEFAULT false
  );
  CREATE UNIQUE INDEX parts_hash ON parts (space, hash);
  CREATE INDEX parts_pending ON parts (space, linked, stored_at);
  CREATE TABLE snapshot_parts (snapshot bigint NOT NULL, idx int NOT NULL, part bigint NOT NULL, PRIMARY KEY (snapshot, idx));
  CREATE INDEX snapshot_parts_part ON snapshot_parts (part);
  CREATE SEQUENCE receipt_order;
  CREATE TABLE receipts (
    space bytea NOT NULL, device bytea NOT NULL, env bytea NOT NULL, ord bigint NOT NULL DEFAULT nextval('receipt_order'),
    PRIMARY KEY (space, device)
  );
  CREATE INDEX receipts_order ON receipts (space, ord);
  `,
  // 2: encrypted file blobs in the database (relay/blob-store/postgres.ts), so k relays need no shared disk.
  `
  CREATE TABLE blob_uploads (id bigserial PRIMARY KEY, space text NOT NULL, blob text NOT NULL, started_at bigint NOT NULL);
  CREATE TABLE blob_chunks (upload bigint NOT NULL, idx int NOT NULL, data bytea NOT NULL, PRIMARY KEY (upload, idx));
  CREATE TABLE blobs (space text NOT NULL, blob text NOT NULL, upload bigint NOT NULL, size bigint NOT NULL, PRIMARY KEY (space, blob));
  `,
  // 3: epochs (issue 11): `spaces` holds the current epoch's keys and number; every epoch since the
  // first rotation has a row here (epoch 0's written by that rotation), with its key change.
  `
  ALTER TABLE spaces ADD COLUMN epoch int NOT NULL DEFAULT 0;
  CREATE TABLE epochs (
    space bytea NOT NULL, epoch int NOT NULL, access_pk bytea NOT NULL, write_pk bytea NOT NULL, key_change bytea,
    PRIMARY KEY (space, epoch)
  );
  `,
  // 4: when each snapshot was stored (issue 10), so the kept history spreads out in time
  // (retention.ts); snapshots stored before read as stored at 0.
  `
  ALTER TABLE snapshots ADD COLUMN stored_at bigint NOT NULL DEFAULT 0;
  `
]

/** Any fixed key: the advisory lock all relays take while migrating one database. */
const MIGRATION_LOCK = 0x636f7665

/** Brings the schema on `client`'s search path to the newest version; returns the versions applied now. */
export async function migrate (client: pg.ClientBase): Promise<number[]> {
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK])
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(r => r.version))
    const applied: number[] = []
    for (const [i, sql] of MIGRATIONS.entries()) {
      const version = i + 1
      if (done.has(version)) continue
      await client.query(sql)
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version])
      applied.push(version)
    }
    await client.query('COMMIT')
    return applied
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {})
    throw e
  }
}
