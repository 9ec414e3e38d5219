-- The latest record of each patient the scope (the days :logical_date through
-- :through, or every staged day when :all_days) brings: on a tie of
-- registered_at, the earliest day's (which a merge of one day after another
-- keeps), then the last line; first_seen_on over every staged record.
SELECT
    latest.patient_id,
    latest.first_name,
    latest.last_name,
    latest.sex,
    latest.age,
    latest.height,
    latest.weight,
    latest.address,
    latest.registered_at,
    earliest.first_seen_on
FROM (
    SELECT
        s.*,
        ROW_NUMBER() OVER (
            PARTITION BY s.patient_id
            ORDER BY s.registered_at DESC, s.logical_date, s.source_file DESC, s.line_no DESC
        ) AS version_rank
    FROM stg_patient AS s
    WHERE CAST(:all_days AS BOOLEAN) OR s.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
) AS latest
JOIN (
    SELECT patient_id, MIN(logical_date) AS first_seen_on
    FROM stg_patient
    GROUP BY patient_id
) AS earliest ON earliest.patient_id = latest.patient_id
WHERE latest.version_rank = 1
