-- Working rows: the raw lines an erasure removes from quarantine, or the
-- erased patients' lines a stage suppresses (erasure_id is the erasure's or
-- the stage's execution id). Written and removed in one transaction, so no
-- committed state holds any.
-- Redshift: empty outside a transaction, a few rows inside one: copied to every node, sorted by the erasure (or stage) that owns them.
-- redshift-design: DISTSTYLE ALL SORTKEY (erasure_id)
CREATE TABLE IF NOT EXISTS erasure_lines (
    erasure_id VARCHAR(80) NOT NULL,
    patient_hash VARCHAR(64) NOT NULL,
    source VARCHAR(16) NOT NULL,
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL
);
