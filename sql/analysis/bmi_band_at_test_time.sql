-- Blood pressure and cardio rate by BMI band, with each test's BMI from the
-- weight its patient had when the test was taken (dim_patient_history, the
-- version the fact row references), not the latest weight.
SELECT
    CASE
        WHEN v.weight / ((v.height / 100.0) * (v.height / 100.0)) < 18.5 THEN '1 under 18.5'
        WHEN v.weight / ((v.height / 100.0) * (v.height / 100.0)) < 25 THEN '2 18.5-25'
        WHEN v.weight / ((v.height / 100.0) * (v.height / 100.0)) < 30 THEN '3 25-30'
        ELSE '4 30 and over'
    END AS bmi_band,
    COUNT(*) AS tests,
    ROUND(AVG(CAST(f.ap_hi AS DOUBLE PRECISION)), 1) AS mean_ap_hi,
    ROUND(AVG(CAST(f.ap_lo AS DOUBLE PRECISION)), 1) AS mean_ap_lo,
    ROUND(AVG(CAST(f.cardio AS DOUBLE PRECISION)) * 100, 1) AS cardio_pct
FROM fact_bloodtest AS f
JOIN dim_patient_history AS v ON v.patient_version_key = f.patient_version_key
GROUP BY 1
ORDER BY 1;
