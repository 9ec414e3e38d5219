-- Landing table of log_data: one row per line that is a valid record,
-- typed as the data contract says. Replaced day by day by the stage task.
-- Redshift: spread evenly over the slices and sorted by delivery day, which every statement on the table filters by.
-- redshift-design: DISTSTYLE EVEN SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS staging_bloodtest (
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    {{contract:log_data}},
    run_id VARCHAR(80) NOT NULL
);
