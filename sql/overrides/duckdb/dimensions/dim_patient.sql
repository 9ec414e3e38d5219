-- DuckDB: the shared query's choice (the latest record of each patient the
-- scope brings; on a tie of registered_at, the earliest day's, then the last
-- file and line) as one aggregation instead of a window: arg_max of the
-- record by that order as a key; first_seen_on over every staged record.
SELECT
    latest.patient_id,
    latest.v.first_name AS first_name,
    latest.v.last_name AS last_name,
    latest.v.sex AS sex,
    latest.v.age AS age,
    latest.v.height AS height,
    latest.v.weight AS weight,
    latest.v.address AS address,
    latest.v.registered_at AS registered_at,
    earliest.first_seen_on
FROM (
    SELECT
        patient_id,
        arg_max(
            {'first_name': first_name, 'last_name': last_name, 'sex': sex, 'age': age,
             'height': height, 'weight': weight, 'address': address, 'registered_at': registered_at},
            {'registered_at': registered_at, 'day': -epoch(logical_date),
             'source_file': source_file, 'line_no': line_no}
        ) AS v
    FROM stg_patient
    WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    GROUP BY patient_id
) AS latest
JOIN (
    SELECT patient_id, MIN(logical_date) AS first_seen_on
    FROM stg_patient
    GROUP BY patient_id
) AS earliest ON earliest.patient_id = latest.patient_id
