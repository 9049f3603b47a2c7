-- 0009-review-recorded-at.sql: when we learned of each review.
-- reviews.updated_at is Gitea's time for reviews the reconciliation brings
-- back after a lost webhook; a feed comparing that with when the agent
-- last read it would never show such a review as new.
ALTER TABLE reviews ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
