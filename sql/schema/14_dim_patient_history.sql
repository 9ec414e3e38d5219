-- Every version of every patient (type-2 history): one row per registered_at
-- a patient's records bring (on a tie, the record dim_patient keeps), valid
-- from its registered_at until the next version's (valid_to, 9999-12-31 for
-- the current one). patient_version_key is patient_id * 100000 + the
-- version's number (1 for the first record), so it is the same however the
-- days were loaded; fact_bloodtest references the version in force when the
-- test was taken. logical_date, source_file and line_no name the record.
-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by patient and version.
-- redshift-design: DISTSTYLE ALL SORTKEY (patient_id, valid_from)
CREATE TABLE IF NOT EXISTS dim_patient_history (
    patient_version_key BIGINT NOT NULL,
    {{contract:patient_data}},
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP NOT NULL,
    is_current BOOLEAN NOT NULL,
    version_no INTEGER NOT NULL,
    logical_date DATE NOT NULL,
    source_file VARCHAR(1024) NOT NULL,
    line_no BIGINT NOT NULL
);
