-- One row per accepted blood test. logical_date is the delivery day the row
-- came from; decided_on is the day it was loaded: its delivery day, or, for a
-- test that waited for its patient's first record, the day that record came.
-- A re-run of a day replaces the rows decided on it. patient_version_key is
-- the patient's version (dim_patient_history) in force when the test was
-- taken (the first version for a test taken before the patient's first
-- record). run_id names the execution that loaded it.
-- Redshift: distributed by patient (a patient's tests on one slice; many patients, so slices stay even) and sorted by test day, then delivery day.
-- redshift-design: DISTKEY (patient_id) COMPOUND SORTKEY (date_key, logical_date)
CREATE TABLE IF NOT EXISTS fact_bloodtest (
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    patient_version_key BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    lab_id BIGINT NOT NULL,
    date_key INTEGER NOT NULL,
    {{contract:log_data:ts..cardio}},
    logical_date DATE NOT NULL,
    decided_on DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
