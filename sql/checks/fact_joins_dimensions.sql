-- Every fact row joins every dimension, and references its patient's version
-- in force when the test was taken: the whole fact, not only the run's
-- days, since a dimension load (a truncate-insert re-run of one day, a
-- patient gone from that day's file) can orphan rows of any day.
-- compare: =
SELECT COUNT(*) AS got, 0 AS expected
FROM fact_bloodtest AS f
LEFT JOIN dim_patient AS p ON p.patient_id = f.patient_id
LEFT JOIN dim_patient_history AS v
  ON v.patient_version_key = f.patient_version_key AND v.patient_id = f.patient_id
 AND f.ts >= CASE WHEN v.version_no = 1 THEN CAST('0001-01-01 00:00:00' AS TIMESTAMP) ELSE v.valid_from END AND f.ts < v.valid_to
LEFT JOIN dim_doctor AS d ON d.doc_id = f.doc_id
LEFT JOIN dim_lab AS l ON l.lab_id = f.lab_id
LEFT JOIN dim_date AS t ON t.date_key = f.date_key
WHERE p.patient_id IS NULL OR v.patient_version_key IS NULL OR d.doc_id IS NULL OR l.lab_id IS NULL OR t.date_key IS NULL;
