-- Erase the request's patients from what was decided about their tests:
-- rejects, tests pending their record, and later deliveries of their tests
-- (duplicates, found through the staged lines they came from, so before
-- staging is erased). Each table's count per patient is logged before its
-- rows are deleted.
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'rejects', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN rejects AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM rejects WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'pending_tests', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN pending_tests AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM pending_tests WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'duplicates', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN (
    SELECT s.patient_id FROM duplicates AS d
    JOIN staging_bloodtest AS s ON s.source_file = d.source_file AND s.line_no = d.line_no
) AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM duplicates
WHERE EXISTS (
    SELECT 1 FROM staging_bloodtest AS s
    WHERE s.source_file = duplicates.source_file AND s.line_no = duplicates.line_no
      AND s.patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id)
);
DELETE FROM erasure_requests WHERE erasure_id = :erasure_id;
