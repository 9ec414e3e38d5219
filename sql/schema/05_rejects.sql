-- Blood tests that broke a validity rule: the staged row and the first rule
-- it broke, in the data contract's order.
CREATE TABLE IF NOT EXISTS rejects (
    logical_date DATE NOT NULL,
    reason VARCHAR(32) NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    lab_id BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,
    ap_hi INTEGER NOT NULL,
    ap_lo INTEGER NOT NULL,
    cholesterol INTEGER NOT NULL,
    gluc INTEGER NOT NULL,
    smoke INTEGER NOT NULL,
    alco INTEGER NOT NULL,
    active INTEGER NOT NULL,
    cardio INTEGER NOT NULL,
    run_id VARCHAR(80) NOT NULL
);
