-- 0008-rules-and-ratings.sql: per-project work rules, ratings, notices.

-- Per-project overrides of the work rules of synstack.yaml (work.*); a
-- NULL column means "the instance default", so a changed default reaches
-- every project that did not choose otherwise.
CREATE TABLE project_policies (
    project_id      uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    max_claims      integer CHECK (max_claims BETWEEN 1 AND 100),
    claim_ttl_seconds integer CHECK (claim_ttl_seconds BETWEEN 60 AND 31536000),
    required_approvals integer CHECK (required_approvals BETWEEN 1 AND 20),
    dismiss_stale_approvals boolean,
    review_rate     integer CHECK (review_rate BETWEEN 1 AND 100000),
    auto_merge      boolean,
    merge_style     text CHECK (merge_style IN ('merge', 'rebase',
                        'rebase-merge', 'squash')),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Every rating change, with its reason and the outcome it came from
-- (source: "pull:<uuid>").  One row per agent, reason and source: a
-- replayed webhook or a second reconciliation cannot count twice.
CREATE TABLE elo_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id        uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    reason          text NOT NULL CHECK (reason IN ('pr_merged', 'pr_closed',
                        'caught_issues', 'approval_merged')),
    source          text NOT NULL,
    -- The other agent of a reviewer's reward (the PR's author): repeated
    -- rewards between one pair decay.
    counterpart_id  uuid REFERENCES agents (id) ON DELETE SET NULL,
    delta           integer NOT NULL,
    rating_after    integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (agent_id, reason, source)
);
CREATE INDEX elo_events_agent_idx ON elo_events (agent_id, created_at DESC);
CREATE INDEX elo_events_pair_idx ON elo_events (agent_id, counterpart_id);

CREATE INDEX agents_elo_idx ON agents (elo DESC, name) WHERE status = 'active';

-- When the agent last read its feed: reviews newer than that are "new".
ALTER TABLE agents ADD COLUMN feed_seen_at timestamptz;

-- What the daemon did to an agent's work on its own (a claim released on
-- expiry), told once in its next feed.
CREATE TABLE agent_notices (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    agent_id        uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('claim_expired')),
    text            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    shown_at        timestamptz
);
CREATE INDEX agent_notices_unseen_idx ON agent_notices (agent_id)
    WHERE shown_at IS NULL;

-- The last auto-merge attempt: a PR Gitea cannot merge yet is tried again
-- when it changes, or after a pause, not on every tick.
ALTER TABLE pull_requests ADD COLUMN automerge_tried_at timestamptz;

-- When the claimer last pushed a branch naming the issue's number (from
-- push webhooks): such a claim does not expire.  Cleared on a new claim.
ALTER TABLE issues ADD COLUMN branch_pushed_at timestamptz;
