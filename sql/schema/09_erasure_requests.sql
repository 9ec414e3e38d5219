-- Working rows: the patients an erasure removes, each with the keyed hash of
-- the id. Written and removed in each of the erasure's transactions, so no
-- committed state holds any.
-- Redshift: empty outside a transaction, a few rows inside one: copied to every node, sorted by the erasure (or stage) that owns them.
-- redshift-design: DISTSTYLE ALL SORTKEY (erasure_id)
CREATE TABLE IF NOT EXISTS erasure_requests (
    erasure_id VARCHAR(80) NOT NULL,
    patient_id BIGINT NOT NULL,
    patient_hash VARCHAR(64) NOT NULL
);
