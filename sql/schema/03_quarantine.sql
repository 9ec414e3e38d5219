-- Lines that are not a valid record: where they are, what they held, and why.
-- Redshift: spread evenly, sorted by delivery day. (RAW is a reserved word there: the column is quoted on both engines.)
-- redshift-design: DISTSTYLE EVEN SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS quarantine (
    logical_date DATE NOT NULL,
    source VARCHAR(16) NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    error VARCHAR(1024) NOT NULL,
    "raw" VARCHAR(16384) NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
