-- Staging layer: rename and cast only.
CREATE OR REPLACE VIEW stg_patient AS
SELECT
    logical_date,
    source_file,
    line_no,
    patient_id,
    first_name,
    last_name,
    sex,
    age,
    height,
    weight,
    address,
    registered_at
FROM staging_patient;
