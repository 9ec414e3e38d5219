-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by its key.
-- redshift-design: DISTSTYLE ALL SORTKEY (lab_id)
CREATE TABLE IF NOT EXISTS dim_lab (
    lab_id BIGINT NOT NULL,
    lab_name VARCHAR(256) NOT NULL,
    city VARCHAR(256) NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
