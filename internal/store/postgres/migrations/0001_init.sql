-- audittrail schema, version 1. Applied once, under an advisory lock, by
-- Open or `audittrail migrate`.

-- Store metadata: the log origin and shared secrets of the replicas.
CREATE TABLE meta (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);

-- The single sequencer row. Every append locks it (SELECT … FOR UPDATE),
-- so sequence numbers are dense across replicas: a SEQUENCE would leave gaps
-- on rollback, and gaps would break the Merkle tree. It also carries the
-- tree's frontier (the roots of its perfect subtrees, largest first) so an
-- append extends the tree without reading it.
CREATE TABLE sequencer (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    next_seq        bigint NOT NULL,
    last_receive_ns bigint NOT NULL,
    frontier        bytea  NOT NULL
);
INSERT INTO sequencer VALUES (true, 0, 0, '');

-- One row per event in acceptance order: id uniqueness across all
-- partitions and replicas (the primary key of events cannot include the id
-- alone, as it is partitioned by time), seq → event, and the tree hashes
-- that appending the event created: its leaf hash (level 0) and the
-- interior hashes of levels 1, 2, … that it completed, 32 bytes each (the
-- golang.org/x/mod/sumdb/tlog stored hashes of record seq).
CREATE TABLE log_entries (
    seq           bigint PRIMARY KEY,
    id            uuid   NOT NULL UNIQUE,
    event_time_ns bigint NOT NULL,
    leaf_hash     bytea  NOT NULL,
    interior      bytea  NOT NULL
);

-- The events, partitioned by month of event_time so that retention drops
-- whole partitions. Times are Unix nanoseconds (timestamptz keeps only
-- microseconds). Text columns use the C collation: byte order, as the
-- embedded store, and LIKE 'prefix%' can use the indexes.
CREATE TABLE events (
    event_time_ns     bigint NOT NULL,
    seq               bigint NOT NULL,
    event_source      text COLLATE "C" NOT NULL,
    action            text COLLATE "C" NOT NULL,
    principal         text COLLATE "C" NOT NULL,
    resource          text COLLATE "C",
    workspace         text COLLATE "C",
    source_ip_address text COLLATE "C" NOT NULL,
    metadata          jsonb,
    salt              bytea NOT NULL,
    stored            bytea NOT NULL,
    PRIMARY KEY (event_time_ns, seq)
) PARTITION BY RANGE (event_time_ns);

-- The embedded store's secondary indexes: one per exact-filterable field,
-- in search order.
CREATE INDEX events_event_source ON events (event_source, event_time_ns DESC, seq DESC);
CREATE INDEX events_action ON events (action, event_time_ns DESC, seq DESC);
CREATE INDEX events_principal ON events (principal, event_time_ns DESC, seq DESC);
CREATE INDEX events_resource ON events (resource, event_time_ns DESC, seq DESC) WHERE resource IS NOT NULL;
CREATE INDEX events_workspace ON events (workspace, event_time_ns DESC, seq DESC) WHERE workspace IS NOT NULL;
CREATE INDEX events_source_ip ON events (source_ip_address, event_time_ns DESC, seq DESC);
CREATE INDEX events_metadata ON events USING gin (metadata jsonb_path_ops);

-- Signed checkpoints by tree size.
CREATE TABLE checkpoints (
    size   bigint PRIMARY KEY,
    signed bytea  NOT NULL
);

-- Server-issued tokens: only the SHA-256 of the secret.
CREATE TABLE tokens (
    id          text PRIMARY KEY,
    hash        bytea NOT NULL UNIQUE,
    principal   text NOT NULL,
    login_name  text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    expire_time timestamptz,
    revoke_time timestamptz
);
CREATE INDEX tokens_principal ON tokens (principal);

-- Latest login name per principal (login_principal).
CREATE TABLE login_names (
    principal text PRIMARY KEY,
    name      text NOT NULL
);
