-- Median blood pressure and cardio rate by the patient's age band and sex.
SELECT
    CAST(FLOOR(p.age / 10) * 10 AS INTEGER) AS age_band,
    p.sex,
    COUNT(*) AS tests,
    MEDIAN(f.ap_hi) AS median_ap_hi,
    MEDIAN(f.ap_lo) AS median_ap_lo,
    ROUND(AVG(CAST(f.cardio AS DOUBLE PRECISION)) * 100, 1) AS cardio_pct
FROM fact_bloodtest AS f
JOIN dim_patient AS p ON p.patient_id = f.patient_id
GROUP BY 1, 2
ORDER BY 1, 2;
