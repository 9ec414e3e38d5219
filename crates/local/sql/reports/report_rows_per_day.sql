-- Run report: fact rows by the day that delivered them.
SELECT logical_date, COUNT(*) AS fact_rows
FROM fact_bloodtest
GROUP BY logical_date
ORDER BY logical_date;
