-- One row per accepted blood test. logical_date is the delivery day the row
-- came from: a re-run of that day replaces exactly these rows. run_id names
-- the execution that loaded it.
-- Redshift: distributed by patient (a patient's tests on one slice; many patients, so slices stay even) and sorted by test day, then delivery day.
-- redshift-design: DISTKEY (patient_id) COMPOUND SORTKEY (date_key, logical_date)
CREATE TABLE IF NOT EXISTS fact_bloodtest (
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    lab_id BIGINT NOT NULL,
    date_key INTEGER NOT NULL,
    {{contract:log_data:ts..cardio}},
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
