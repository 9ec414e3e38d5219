-- The history of the patients the days :logical_date through :through touch
-- (a record of theirs staged on those days, every staged patient when
-- :all_days, or a version that came from those days), rebuilt from every
-- staged record of theirs, so a late, re-run or re-staged day re-decides the
-- versions it touches and a range equals its days run one by one. One
-- version per registered_at: on a tie, the earliest day's record, then the
-- last file and line (as dim_patient keeps). Runs in the load of dim_patient.
CREATE TEMP TABLE touched_patients AS
SELECT patient_id FROM stg_patient
WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
UNION
SELECT patient_id FROM dim_patient_history
WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);

DELETE FROM dim_patient_history WHERE patient_id IN (SELECT patient_id FROM touched_patients);

INSERT INTO dim_patient_history (
    patient_version_key, patient_id, first_name, last_name, sex, age, height, weight, address,
    registered_at, valid_from, valid_to, is_current, version_no, logical_date, source_file, line_no
)
SELECT
    v.patient_id * 100000 + v.version_no,
    v.patient_id, v.first_name, v.last_name, v.sex, v.age, v.height, v.weight, v.address,
    v.registered_at,
    v.registered_at,
    COALESCE(v.next_from, CAST('9999-12-31 00:00:00' AS TIMESTAMP)),
    CASE WHEN v.next_from IS NULL THEN TRUE ELSE FALSE END,
    v.version_no,
    v.logical_date, v.source_file, v.line_no
FROM (
    SELECT
        r.*,
        ROW_NUMBER() OVER (PARTITION BY r.patient_id ORDER BY r.registered_at) AS version_no,
        LEAD(r.registered_at) OVER (PARTITION BY r.patient_id ORDER BY r.registered_at) AS next_from
    FROM (
        SELECT
            s.*,
            ROW_NUMBER() OVER (
                PARTITION BY s.patient_id, s.registered_at
                ORDER BY s.logical_date, s.source_file DESC, s.line_no DESC
            ) AS tie_rank
        FROM stg_patient AS s
        WHERE s.patient_id IN (SELECT patient_id FROM touched_patients)
    ) AS r
    WHERE r.tie_rank = 1
) AS v;

DROP TABLE touched_patients;
