-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by its key.
-- The latest record of each patient. first_seen_on is the delivery day of the
-- patient's first record: tests delivered from that day on have a known patient.
CREATE TABLE IF NOT EXISTS dim_patient (
    patient_id BIGINT NOT NULL,
    first_name VARCHAR(256) NOT NULL,
    last_name VARCHAR(256) NOT NULL,
    sex VARCHAR(1) NOT NULL,
    age INTEGER NOT NULL,
    height INTEGER NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    address VARCHAR(1024) NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    first_seen_on DATE NOT NULL
)
DISTSTYLE ALL
SORTKEY (patient_id);
