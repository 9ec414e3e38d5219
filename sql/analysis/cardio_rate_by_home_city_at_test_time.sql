-- Share of tests with cardiovascular disease by the city the patient lived
-- in when the test was taken: the address of the version the fact row
-- references (an address ends "…, City, POSTCODE"; the city is its
-- second-to-last comma-separated part).
SELECT
    SPLIT_PART(
        v.address, ', ',
        CAST((LENGTH(v.address) - LENGTH(REPLACE(v.address, ', ', ''))) / 2 AS INTEGER)
    ) AS home_city,
    COUNT(*) AS tests,
    ROUND(AVG(CAST(f.cardio AS DOUBLE PRECISION)) * 100, 1) AS cardio_pct
FROM fact_bloodtest AS f
JOIN dim_patient_history AS v ON v.patient_version_key = f.patient_version_key
GROUP BY 1
ORDER BY 1;
