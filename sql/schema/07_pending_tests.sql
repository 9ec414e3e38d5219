-- Blood tests waiting for their patient's first record (the data contract's
-- late patient records): staged, valid by every other rule, and delivered
-- less than the wait window ago. Each is loaded on the day its patient's
-- first record is delivered, or rejected `unknown_patient` once wait_until
-- (its delivery day plus the window) has been loaded without it. The load of
-- a day replaces the rows of the window it decides.
-- Redshift: spread evenly over the slices and sorted by delivery day, which the load deletes by.
-- redshift-design: DISTSTYLE EVEN SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS pending_tests (
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    wait_until DATE NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
