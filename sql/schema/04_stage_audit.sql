-- How many lines each source held on each day, counted as they were read.
CREATE TABLE IF NOT EXISTS stage_audit (
    logical_date DATE NOT NULL,
    source VARCHAR(16) NOT NULL,
    run_id VARCHAR(80) NOT NULL,
    files INTEGER NOT NULL,
    lines_read BIGINT NOT NULL
);
