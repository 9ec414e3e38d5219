-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by its key.
-- redshift-design: DISTSTYLE ALL SORTKEY (doc_id)
CREATE TABLE IF NOT EXISTS dim_doctor (
    doc_id BIGINT NOT NULL,
    doc_name VARCHAR(256) NOT NULL,
    clinic VARCHAR(256) NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
