-- Cholesterol levels by the ordering doctor's clinic.
SELECT
    d.clinic,
    COUNT(*) AS tests,
    ROUND(100.0 * SUM(CASE WHEN f.cholesterol = 1 THEN 1 ELSE 0 END) / COUNT(*), 1) AS normal_pct,
    ROUND(100.0 * SUM(CASE WHEN f.cholesterol = 3 THEN 1 ELSE 0 END) / COUNT(*), 1) AS well_above_pct
FROM fact_bloodtest AS f
JOIN dim_doctor AS d ON d.doc_id = f.doc_id
GROUP BY d.clinic
ORDER BY tests DESC;
