-- Redshift: a small dimension, copied to every node (DISTSTYLE ALL) so joins to the fact stay local; sorted by its key.
-- redshift-design: DISTSTYLE ALL SORTKEY (date_key)
CREATE TABLE IF NOT EXISTS dim_date (
    date_key INTEGER NOT NULL,
    full_date DATE NOT NULL,
    year INTEGER NOT NULL,
    quarter INTEGER NOT NULL,
    month INTEGER NOT NULL,
    day_of_month INTEGER NOT NULL,
    iso_day_of_week INTEGER NOT NULL,
    is_weekend BOOLEAN NOT NULL
);
