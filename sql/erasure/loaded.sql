-- Erase the request's patients from what was loaded: the fact, the patient
-- dimension and its history. Each table's count per patient is logged (under
-- the keyed hash) before its rows are deleted.
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'fact_bloodtest', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN fact_bloodtest AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM fact_bloodtest WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'dim_patient_history', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN dim_patient_history AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM dim_patient_history WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
INSERT INTO erasures (erasure_id, patient_hash, erased_at, place, rows_erased)
SELECT r.erasure_id, r.patient_hash, CAST(:erased_at AS TIMESTAMP), 'dim_patient', COUNT(t.patient_id)
FROM erasure_requests AS r
LEFT JOIN dim_patient AS t ON t.patient_id = r.patient_id
WHERE r.erasure_id = :erasure_id
GROUP BY r.erasure_id, r.patient_hash;
DELETE FROM dim_patient WHERE patient_id IN (SELECT patient_id FROM erasure_requests WHERE erasure_id = :erasure_id);
DELETE FROM erasure_requests WHERE erasure_id = :erasure_id;
