-- Blood tests that broke a validity rule: the staged row and the first rule
-- it broke, in the data contract's order. decided_on is the delivery day, or,
-- for `unknown_patient`, the last day of the patient wait window.
-- Redshift: spread evenly over the slices and sorted by delivery day, which the day's replace deletes by.
-- redshift-design: DISTSTYLE EVEN SORTKEY (logical_date)
CREATE TABLE IF NOT EXISTS rejects (
    logical_date DATE NOT NULL,
    reason VARCHAR(32) NOT NULL,
    decided_on DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    lab_id BIGINT NOT NULL,
    {{contract:log_data:ts..cardio}},
    run_id VARCHAR(80) NOT NULL
);
