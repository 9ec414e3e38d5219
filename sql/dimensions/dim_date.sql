-- Each calendar day the scope's tests were taken on.
SELECT DISTINCT
    date_key,
    test_date AS full_date,
    CAST(EXTRACT(YEAR FROM test_date) AS INTEGER) AS year,
    CAST(EXTRACT(QUARTER FROM test_date) AS INTEGER) AS quarter,
    CAST(EXTRACT(MONTH FROM test_date) AS INTEGER) AS month,
    CAST(EXTRACT(DAY FROM test_date) AS INTEGER) AS day_of_month,
    CAST(EXTRACT(ISODOW FROM test_date) AS INTEGER) AS iso_day_of_week,
    EXTRACT(ISODOW FROM test_date) >= 6 AS is_weekend
FROM stg_bloodtest
WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
