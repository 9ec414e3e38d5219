-- Staging layer: rename and cast only. date_key is the UTC day of ts.
CREATE OR REPLACE VIEW stg_bloodtest AS
SELECT
    logical_date,
    source_file,
    line_no,
    test_id,
    patient_id,
    doc_id,
    doc_name,
    clinic,
    lab_id,
    lab_name,
    city AS lab_city,
    ts,
    CAST(ts AS DATE) AS test_date,
    CAST(EXTRACT(YEAR FROM ts) * 10000 + EXTRACT(MONTH FROM ts) * 100 + EXTRACT(DAY FROM ts) AS INTEGER) AS date_key,
    ap_hi,
    ap_lo,
    cholesterol,
    gluc,
    smoke,
    alco,
    active,
    cardio
FROM staging_bloodtest;
