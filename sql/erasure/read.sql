-- Erase the request's patients from what was read: their staged lines, their
-- quarantined lines (erasure_lines: those whose raw text is theirs), the
-- lines these count for in the stage audit, which then reads as a run of the
-- rewritten files would, and the dimension rows their tests named (restored
-- from the other tests after this file). Each place's count per patient is logged before its
-- rows are deleted.
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'staging_patient', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN staging_patient AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'staging_bloodtest', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN staging_bloodtest AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'quarantine', COUNT(t.line_no)
FROM erasure_requests AS r
LEFT JOIN erasure_lines AS t ON t.erasure_id = r.erasure_id AND t.patient_hash = r.patient_hash
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
UPDATE stage_audit
SET lines_read = stage_audit.lines_read - erased.n
FROM (
    SELECT source, logical_date, SUM(n) AS n
    FROM (
        SELECT CAST('patient_data' AS VARCHAR(16)) AS source, logical_date, COUNT(*) AS n
        FROM staging_patient WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id)
        GROUP BY logical_date
        UNION ALL
        SELECT CAST('log_data' AS VARCHAR(16)) AS source, logical_date, COUNT(*) AS n
        FROM staging_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id)
        GROUP BY logical_date
        UNION ALL
        SELECT source, logical_date, COUNT(*) AS n
        FROM erasure_lines WHERE erasure_id = :erasure_id
        GROUP BY source, logical_date
    ) AS per_place
    GROUP BY source, logical_date
) AS erased
WHERE stage_audit.source = erased.source AND stage_audit.logical_date = erased.logical_date;
-- The doctors, labs and days their tests named: restored from the other
-- staged tests once theirs are gone (sql/macros/dimension_restore.sql), so
-- no row keeps a value only their tests brought.
DELETE FROM dim_doctor WHERE doc_id IN (SELECT doc_id FROM stg_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id));
DELETE FROM dim_lab WHERE lab_id IN (SELECT lab_id FROM stg_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id));
DELETE FROM dim_date WHERE date_key IN (SELECT date_key FROM stg_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id));
DELETE FROM quarantine
WHERE EXISTS (
    SELECT 1 FROM erasure_lines AS l
    WHERE l.erasure_id = :erasure_id AND l.source = quarantine.source
      AND l.source_file = quarantine.source_file AND l.line_no = quarantine.line_no
);
DELETE FROM staging_patient WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
DELETE FROM staging_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
DELETE FROM erasure_lines WHERE erasure_id = :erasure_id;
DELETE FROM erasure_requests WHERE erasure_id = :erasure_id;
