-- 0013-delivery-queue.sql: a delivery is acknowledged once stored, and
-- applied by a worker (lib/webhook.c) in order per repository: seq orders
-- them, repo_id groups them (0: none), body waits here until applied.
-- A delivery that failed for Gitea's or the database's sake is tried
-- again at next_attempt_at.

ALTER TABLE webhook_deliveries
    ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN repo_id bigint NOT NULL DEFAULT 0,
    ADD COLUMN body text,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();

-- Deliveries stored before were applied in the same transaction.
UPDATE webhook_deliveries SET processed_at = received_at
    WHERE processed_at IS NULL;

CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (seq)
    WHERE processed_at IS NULL;
CREATE INDEX webhook_deliveries_repo_queue_idx
    ON webhook_deliveries (repo_id, seq) WHERE processed_at IS NULL;
