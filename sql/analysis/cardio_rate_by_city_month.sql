-- Share of tests with cardiovascular disease, by the lab's city and month.
SELECT
    l.city,
    d.year,
    d.month,
    COUNT(*) AS tests,
    ROUND(AVG(CAST(f.cardio AS DOUBLE PRECISION)) * 100, 1) AS cardio_pct
FROM fact_bloodtest AS f
JOIN dim_lab AS l ON l.lab_id = f.lab_id
JOIN dim_date AS d ON d.date_key = f.date_key
GROUP BY l.city, d.year, d.month
ORDER BY l.city, d.year, d.month;
