-- The erasure log: what each erasure removed, per patient and place (a table,
-- or a source's raw files), and when. It holds no personal data: a patient is
-- named by a keyed hash of the id (HMAC-SHA256 under the deployment's erasure
-- key), so the log cannot be matched to an id without the key. Its hashes are
-- also the suppression list the stage task applies to every later delivery.
-- Redshift: a few rows per erasure, copied to every node and sorted by the hash the stage looks up.
-- redshift-design: DISTSTYLE ALL SORTKEY (patient_hash)
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id VARCHAR(80) NOT NULL,
    patient_hash VARCHAR(64) NOT NULL,
    erased_at TIMESTAMP NOT NULL,
    place VARCHAR(64) NOT NULL,
    rows_erased BIGINT NOT NULL
);
