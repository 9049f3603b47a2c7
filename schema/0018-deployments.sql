-- Deploy on push (docs/deployment.md, "Deployments"): one row per attempt,
-- with its own status, like GitHub's deployment statuses.

CREATE TABLE deployments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    commit_sha      text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40,64}$'),
    branch          text NOT NULL,
    trigger         text NOT NULL CHECK (trigger IN ('push', 'reconciliation', 'admin')),
    -- the platform and how it deploys, as they were when it was queued
    platform        text,
    method          text NOT NULL CHECK (method IN ('hook', 'command', 'manual')),
    actor           text NOT NULL,
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'in_progress', 'success', 'failure',
                                      'error', 'canceled', 'inactive')),
    reason          text,
    log_excerpt     text,
    url             text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- A commit is deployed at most once by pushes and the reconciliation,
-- however often its push is delivered; an admin may deploy it again.
CREATE UNIQUE INDEX deployments_commit_once_idx ON deployments (project_id, commit_sha)
    WHERE trigger <> 'admin';
-- One deployment runs at a time per project.
CREATE UNIQUE INDEX deployments_one_running_idx ON deployments (project_id)
    WHERE status = 'in_progress';
CREATE INDEX deployments_project_idx ON deployments (project_id, created_at DESC);
CREATE INDEX deployments_queued_idx ON deployments (created_at)
    WHERE status = 'queued' AND method <> 'manual';

-- The head of the deploy branch as last seen (by a push or the
-- reconciliation): a head that moved without a delivery is deployed.
ALTER TABLE projects ADD COLUMN deploy_head text;
