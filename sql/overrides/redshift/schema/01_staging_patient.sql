-- Redshift: spread evenly over the slices and sorted by delivery day, which every statement on the table filters by.
-- Landing table of patient_data: one row per line that is a valid record,
-- typed as the data contract says. Replaced day by day by the stage task.
CREATE TABLE IF NOT EXISTS staging_patient (
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL,
    patient_id BIGINT NOT NULL,
    first_name VARCHAR(256) NOT NULL,
    last_name VARCHAR(256) NOT NULL,
    sex VARCHAR(1) NOT NULL,
    age INTEGER NOT NULL,
    height INTEGER NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    address VARCHAR(1024) NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    run_id VARCHAR(80) NOT NULL
)
DISTSTYLE EVEN
SORTKEY (logical_date);
