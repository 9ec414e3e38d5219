-- The latest record of each patient. first_seen_on is the delivery day of the
-- patient's first record: tests delivered from that day on have a known patient.
-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by its key.
-- redshift-design: DISTSTYLE ALL SORTKEY (patient_id)
CREATE TABLE IF NOT EXISTS dim_patient (
    {{contract:patient_data}},
    first_seen_on DATE NOT NULL
);
