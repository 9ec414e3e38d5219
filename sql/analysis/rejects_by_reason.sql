-- What the warehouse turned away, by month and reason.
SELECT
    CAST(EXTRACT(MONTH FROM logical_date) AS INTEGER) AS month,
    reason,
    COUNT(*) AS tests
FROM rejects
GROUP BY 1, 2
ORDER BY 1, 2;
