-- Run report: rejected blood tests by delivery day and rule.
SELECT logical_date, reason, COUNT(*) AS rejects
FROM rejects
GROUP BY logical_date, reason
ORDER BY logical_date, reason;
