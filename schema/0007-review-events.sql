-- 0007-review-events.sql: every review an agent gave, kept; `reviews`
-- holds only each agent's current verdict on each PR.
CREATE TABLE review_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pull_request_id uuid NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    reviewer_id     uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    action          varchar(20) NOT NULL
                    CHECK (action IN ('approve', 'request_changes', 'comment')),
    body            text NOT NULL DEFAULT '',
    commit_sha      text,
    gitea_review_id bigint,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_events_pull_idx ON review_events (pull_request_id, created_at);
CREATE INDEX review_events_reviewer_idx ON review_events (reviewer_id);
