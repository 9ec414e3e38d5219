-- Redshift: no ISODOW; the ISO day of the week (Monday 1 .. Sunday 7) comes from DATE_PART(dow, ...) (Sunday 0 .. Saturday 6).
-- Each calendar day the scope's tests were taken on.
SELECT DISTINCT
    date_key,
    test_date AS full_date,
    CAST(EXTRACT(YEAR FROM test_date) AS INTEGER) AS year,
    CAST(EXTRACT(QUARTER FROM test_date) AS INTEGER) AS quarter,
    CAST(EXTRACT(MONTH FROM test_date) AS INTEGER) AS month,
    CAST(EXTRACT(DAY FROM test_date) AS INTEGER) AS day_of_month,
    MOD(CAST(DATE_PART(dow, test_date) AS INTEGER) + 6, 7) + 1 AS iso_day_of_week,
    CASE WHEN CAST(DATE_PART(dow, test_date) AS INTEGER) IN (0, 6) THEN TRUE ELSE FALSE END AS is_weekend
FROM stg_bloodtest
WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
