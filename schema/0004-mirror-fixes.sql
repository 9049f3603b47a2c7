-- 0004-mirror-fixes.sql

-- A deleted repository's name may be taken by a new one: names are
-- unique among live projects only.
DROP INDEX projects_full_name_idx;
CREATE UNIQUE INDEX projects_full_name_idx ON projects (lower(owner), lower(name))
    WHERE deleted_at IS NULL;

-- The Gitea updated_at at which the reconciliation last read a PR's
-- details and reviews.  A webhook may bring the PR row itself up to date
-- without its reviews (a review made while webhooks were lost), so the
-- PR row's own updated_at cannot say whether the reviews are current.
ALTER TABLE pull_requests ADD COLUMN reviews_synced_at timestamptz;
