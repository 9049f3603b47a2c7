-- Silent webhooks (issue 17, item 5): whether the reconciliation keeps
-- finding changes that no delivery brought, as Gitea's default
-- [webhook] ALLOWED_HOST_LIST (external) makes it for a daemon on a
-- loopback or private address.  One row, shared by every daemon on this
-- database: whichever runs the reconciliation counts, any delivery clears.

CREATE TABLE webhook_watch (
    one             boolean PRIMARY KEY DEFAULT true CHECK (one),
    -- when the last successful reconciliation started (NULL: none yet)
    last_run_at     timestamptz,
    -- successful runs in a row that changed items while no delivery was
    -- received since the run before
    blind_runs      integer NOT NULL DEFAULT 0,
    -- since when webhooks look blocked (blind_runs >= 2); NULL: they do not
    silent_since    timestamptz
);
INSERT INTO webhook_watch DEFAULT VALUES;
