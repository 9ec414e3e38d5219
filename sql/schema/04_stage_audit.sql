-- How many lines each source held on each day, counted as they were read,
-- and how many of them were of erased patients (suppressed: not staged).
-- Redshift: two rows a day, so a copy on every node (DISTSTYLE ALL), sorted by delivery day.
-- redshift-design: DISTSTYLE ALL SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS stage_audit (
    logical_date DATE NOT NULL,
    source VARCHAR(16) NOT NULL,
    run_id VARCHAR(80) NOT NULL,
    files INTEGER NOT NULL,
    lines_read BIGINT NOT NULL,
    suppressed BIGINT NOT NULL
);
