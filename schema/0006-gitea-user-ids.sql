-- 0006-gitea-user-ids.sql: Gitea never reuses a user id, and logins are
-- unique already; but a Gitea created anew (the quickstart's emulator,
-- re-seeded at each start) hands out the same ids again.
ALTER TABLE agents DROP CONSTRAINT agents_gitea_user_id_key;
