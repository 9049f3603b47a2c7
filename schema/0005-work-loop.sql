-- 0005-work-loop.sql: what the agent work loop needs.

-- The numbered entries of each agent's latest feed, so that `work-on 3`
-- means what the agent saw.
CREATE TABLE feed_items (
    agent_id        uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    position        integer NOT NULL CHECK (position > 0),
    kind            text NOT NULL CHECK (kind IN ('issue', 'pull', 'project')),
    target_id       uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, position)
);

-- Claims are issues.assigned_to / assigned_at; find an agent's quickly.
CREATE INDEX issues_claims_idx ON issues (assigned_to, assigned_at)
    WHERE assigned_to IS NOT NULL;
