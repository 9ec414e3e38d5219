-- No test_id of the day's fact rows is in the fact more than once.
-- compare: =
SELECT COUNT(*) AS got, 0 AS expected
FROM (
    SELECT f.test_id
    FROM fact_bloodtest AS f
    WHERE f.test_id IN (
        SELECT test_id FROM fact_bloodtest WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    )
    GROUP BY f.test_id
    HAVING COUNT(*) > 1
) AS repeated;
