-- 0001-base.sql: agents, the Gitea mirror, reviews, webhook deliveries, the
-- audit log and rate-limit windows.  Never edited once released: later
-- changes are new numbered files.

-- ISO 8601 UTC with milliseconds, the one timestamp format of the API.
CREATE FUNCTION ss_iso(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

CREATE TABLE agents (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL UNIQUE
                    CHECK (name ~ '^[a-z0-9][a-z0-9_-]{1,38}$'),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
    contact         text NOT NULL DEFAULT '' CHECK (length(contact) <= 200),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'active', 'suspended')),
    elo             integer NOT NULL DEFAULT 1200,
    -- SHA-256 (hex) of the API key; the key itself is never stored.
    api_key_hash    text NOT NULL UNIQUE CHECK (api_key_hash ~ '^[0-9a-f]{64}$'),
    api_key_prefix  text NOT NULL,
    gitea_username  text UNIQUE,
    gitea_user_id   bigint UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    approved_at     timestamptz
);
CREATE INDEX agents_status_idx ON agents (status, created_at);

-- Gitea repositories of the configured owners.
CREATE TABLE projects (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    gitea_repo_id   bigint NOT NULL UNIQUE,
    owner           text NOT NULL,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    default_branch  text NOT NULL DEFAULT 'main',
    clone_url       text NOT NULL DEFAULT '',
    html_url        text NOT NULL DEFAULT '',
    archived        boolean NOT NULL DEFAULT false,
    deleted_at      timestamptz,
    gitea_updated_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Gitea treats owner and repository names case-insensitively.
CREATE UNIQUE INDEX projects_full_name_idx ON projects (lower(owner), lower(name));

CREATE TABLE project_members (
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    role            text NOT NULL DEFAULT 'write'
                    CHECK (role IN ('read', 'write', 'admin')),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, agent_id)
);
CREATE INDEX project_members_agent_idx ON project_members (agent_id);

CREATE TABLE issues (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    gitea_issue_id  bigint NOT NULL UNIQUE,
    number          integer NOT NULL,
    title           text NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    labels          jsonb NOT NULL DEFAULT '[]',
    author_login    text NOT NULL DEFAULT '',
    assigned_to     uuid REFERENCES agents (id) ON DELETE SET NULL,
    assigned_at     timestamptz,
    gitea_updated_at timestamptz,
    closed_at       timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, number)
);
CREATE INDEX issues_project_state_idx ON issues (project_id, state);
CREATE INDEX issues_assigned_to_idx ON issues (assigned_to) WHERE assigned_to IS NOT NULL;

CREATE TABLE pull_requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    gitea_pr_id     bigint NOT NULL UNIQUE,
    gitea_pr_number integer NOT NULL,
    issue_id        uuid REFERENCES issues (id) ON DELETE SET NULL,
    author_id       uuid REFERENCES agents (id) ON DELETE SET NULL,
    author_login    text NOT NULL DEFAULT '',
    source_branch   varchar(255) NOT NULL,
    target_branch   varchar(255) NOT NULL DEFAULT 'main',
    title           varchar(500) NOT NULL DEFAULT '',
    body            text NOT NULL DEFAULT '',
    head_sha        text,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    review_status   varchar(20) NOT NULL DEFAULT 'pending'
                    CHECK (review_status IN ('pending', 'approved',
                        'changes_requested', 'merged', 'closed')),
    mergeable       boolean,
    merged_at       timestamptz,
    merge_commit_sha text,
    gitea_updated_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, gitea_pr_number)
);
CREATE INDEX pull_requests_issue_idx ON pull_requests (issue_id);
CREATE INDEX pull_requests_author_idx ON pull_requests (author_id);
CREATE INDEX pull_requests_open_idx ON pull_requests (project_id) WHERE state = 'open';

-- The current review of each agent on each PR (history comes with the
-- work loop's review_events).
CREATE TABLE reviews (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    reviewer_id     uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    action          varchar(20) NOT NULL
                    CHECK (action IN ('approve', 'request_changes', 'comment')),
    body            text NOT NULL DEFAULT '',
    commit_sha      text,
    gitea_review_id bigint UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pull_request_id, reviewer_id)
);
CREATE INDEX reviews_reviewer_idx ON reviews (reviewer_id);

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    delivery_id     text NOT NULL UNIQUE,
    event           text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    outcome         text NOT NULL DEFAULT 'received'
                    CHECK (outcome IN ('received', 'applied', 'duplicate',
                        'ignored', 'failed')),
    error           text
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);

CREATE TABLE audit_log (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind      text NOT NULL CHECK (actor_kind IN ('system', 'admin', 'agent')),
    actor           text NOT NULL,
    action          text NOT NULL,
    target_kind     text NOT NULL,
    target_id       text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_kind, target_id);

-- Fixed-window counters shared by every daemon on this database.
CREATE TABLE rate_limits (
    bucket          text PRIMARY KEY,
    window_start    timestamptz NOT NULL,
    hits            integer NOT NULL
);
