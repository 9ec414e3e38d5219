-- Every fact row of the day joins every dimension.
-- compare: =
SELECT COUNT(*) AS got, 0 AS expected
FROM fact_bloodtest AS f
LEFT JOIN dim_patient AS p ON p.patient_id = f.patient_id
LEFT JOIN dim_doctor AS d ON d.doc_id = f.doc_id
LEFT JOIN dim_lab AS l ON l.lab_id = f.lab_id
LEFT JOIN dim_date AS t ON t.date_key = f.date_key
WHERE f.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND (p.patient_id IS NULL OR d.doc_id IS NULL OR l.lab_id IS NULL OR t.date_key IS NULL);
