-- Redshift: spread evenly over the slices and sorted by delivery day, which every statement on the table filters by.
-- Landing table of log_data: one row per line that is a valid record,
-- typed as the data contract says. Replaced day by day by the stage task.
CREATE TABLE IF NOT EXISTS staging_bloodtest (
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    test_id VARCHAR(64) NOT NULL,
    patient_id BIGINT NOT NULL,
    doc_id BIGINT NOT NULL,
    doc_name VARCHAR(256) NOT NULL,
    clinic VARCHAR(256) NOT NULL,
    lab_id BIGINT NOT NULL,
    lab_name VARCHAR(256) NOT NULL,
    city VARCHAR(256) NOT NULL,
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
)
DISTSTYLE EVEN
SORTKEY (logical_date);
