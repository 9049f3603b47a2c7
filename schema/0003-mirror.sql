-- 0003-mirror.sql: what the Gitea mirror needs beside 0001's tables.

-- Reconciliation: where each project's incremental sync starts again
-- (Gitea's `since` compares with updated_at, inclusively).
ALTER TABLE projects
    ADD COLUMN sync_watermark timestamptz,
    ADD COLUMN synced_at timestamptz;

-- Gitea's assignees (logins), as Gitea says; claims are ours (assigned_to).
ALTER TABLE issues ADD COLUMN assignees jsonb NOT NULL DEFAULT '[]';
ALTER TABLE pull_requests ADD COLUMN assignees jsonb NOT NULL DEFAULT '[]';
-- The head ref as Gitea shows it: refs/pull/N/head once the branch is gone.
ALTER TABLE pull_requests ADD COLUMN head_ref text;

-- A replay from Gitea's UI carries a new delivery id but the same bytes:
-- effects are keyed on content too.
ALTER TABLE webhook_deliveries
    ADD COLUMN event_type text,
    ADD COLUMN content_key text;
CREATE UNIQUE INDEX webhook_deliveries_content_idx
    ON webhook_deliveries (content_key) WHERE content_key IS NOT NULL;

-- Every reconciliation run, for /metrics and for people.
CREATE TABLE sync_runs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    outcome         text NOT NULL DEFAULT 'running'
                    CHECK (outcome IN ('running', 'ok', 'failed')),
    projects        integer NOT NULL DEFAULT 0,
    items           integer NOT NULL DEFAULT 0,
    gitea_calls     integer NOT NULL DEFAULT 0,
    error           text
);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC);

-- Gitea writes that may happen later, retried with backoff until done;
-- several daemons share the queue (SELECT ... FOR UPDATE SKIP LOCKED).
CREATE TABLE gitea_outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind            text NOT NULL,
    method          text NOT NULL CHECK (method IN ('POST', 'PUT', 'PATCH', 'DELETE')),
    path            text NOT NULL,
    body            jsonb,
    sudo            text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX gitea_outbox_due_idx ON gitea_outbox (next_attempt_at) WHERE done_at IS NULL;
