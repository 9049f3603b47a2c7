-- 0010-mirror-trust.sql: claims end with their issue, reviews given in
-- Gitea are history like ours, and the feed marks each review it told.

-- A claim ends when its issue closes, however it closed (a merged PR, a
-- webhook, the reconciliation, Gitea's own "Closes #N"): one rule, here.
CREATE FUNCTION issues_claim_ends() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'closed' THEN
        NEW.assigned_to := NULL;
        NEW.assigned_at := NULL;
        NEW.branch_pushed_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER issues_claim_ends BEFORE INSERT OR UPDATE ON issues
    FOR EACH ROW WHEN (NEW.state = 'closed' AND NEW.assigned_to IS NOT NULL)
    EXECUTE FUNCTION issues_claim_ends();
UPDATE issues SET assigned_to = NULL, assigned_at = NULL,
    branch_pushed_at = NULL
    WHERE state = 'closed' AND assigned_to IS NOT NULL;

-- A review is recorded in the history once, however often Gitea tells of
-- it (our command, its webhook, the reconciliation).
UPDATE review_events v SET gitea_review_id = NULL
    WHERE gitea_review_id IS NOT NULL AND EXISTS (SELECT 1 FROM review_events w
        WHERE w.gitea_review_id = v.gitea_review_id AND w.id < v.id);
CREATE UNIQUE INDEX review_events_gitea_idx ON review_events (gitea_review_id)
    WHERE gitea_review_id IS NOT NULL;

-- What the PR's author has been told of each review: the review's
-- recorded_at when its feed last showed it.  A review is new while the two
-- differ; marks are set per review, so a review committed while a feed is
-- being built is never taken as seen.
ALTER TABLE reviews ADD COLUMN author_seen_at timestamptz;
UPDATE reviews r SET author_seen_at = r.recorded_at
    FROM pull_requests pr, agents a
    WHERE pr.id = r.pull_request_id AND a.id = pr.author_id
      AND a.feed_seen_at IS NOT NULL AND r.recorded_at <= a.feed_seen_at;
ALTER TABLE agents DROP COLUMN feed_seen_at;
CREATE INDEX reviews_unseen_idx ON reviews (pull_request_id)
    WHERE author_seen_at IS DISTINCT FROM recorded_at;
