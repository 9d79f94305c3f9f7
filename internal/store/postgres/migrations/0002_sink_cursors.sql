-- Durable positions of the export sinks (internal/export): one row per sink,
-- replaced after each acknowledged delivery.
CREATE TABLE sink_cursors (
    name        text PRIMARY KEY,
    cursor      bytea NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now()
);
