-- Redshift: distributed by patient (a patient's tests on one slice; many patients, so slices stay even) and sorted by test day, then delivery day.
-- One row per accepted blood test. logical_date is the delivery day the row
-- came from: a re-run of that day replaces exactly these rows. run_id names
-- the execution that loaded it.
CREATE TABLE IF NOT EXISTS fact_bloodtest (
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    lab_id BIGINT NOT NULL,
    date_key INTEGER NOT NULL,
    ts TIMESTAMP NOT NULL,
    ap_hi INTEGER NOT NULL,
    ap_lo INTEGER NOT NULL,
    cholesterol INTEGER NOT NULL,
    gluc INTEGER NOT NULL,
    smoke INTEGER NOT NULL,
    alco INTEGER NOT NULL,
    active INTEGER NOT NULL,
    cardio INTEGER NOT NULL,
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    run_id VARCHAR(80) NOT NULL
)
DISTKEY (patient_id)
COMPOUND SORTKEY (date_key, logical_date);
