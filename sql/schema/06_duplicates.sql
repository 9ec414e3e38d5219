-- Deliveries of a test_id after its first: `same_day` when the day holds it
-- more than once, `other_day` when another day already loaded or rejected it.
-- Redshift: spread evenly over the slices and sorted by delivery day, which the day's replace deletes by.
-- redshift-design: DISTSTYLE EVEN SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS duplicates (
    logical_date DATE NOT NULL,
    kind VARCHAR(16) NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    test_id VARCHAR(64) NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
