-- Run report: the latest CheckQuality run that passed (its output holds
-- every check's result under results.quality), and the latest run of it at
-- all, which may have failed (its detail then holds the check, got and
-- expected, as data).
SELECT kind, logical_date, execution_id, status, output, error, cause, detail
FROM (
    SELECT CASE WHEN s.status = 'SUCCEEDED' THEN 'passed' ELSE 'other' END AS kind,
           e.logical_date, s.execution_id, s.status, s.output, s.error, s.cause, s.detail,
           s.started_at, e.started_at AS execution_started_at,
           ROW_NUMBER() OVER (
               PARTITION BY CASE WHEN s.status = 'SUCCEEDED' THEN 'passed' ELSE 'other' END
               ORDER BY s.started_at DESC, e.started_at DESC, e.logical_date DESC,
                        LENGTH(s.execution_id) DESC, s.execution_id DESC,
                        s.redrive_count DESC, s.seq DESC
           ) AS latest
    FROM state_runs AS s
    JOIN executions AS e ON e.execution_id = s.execution_id
    WHERE e.state_machine = 'pipeline' AND s.path = 'CheckQuality'
) AS runs
WHERE latest = 1
ORDER BY started_at DESC, execution_started_at DESC, logical_date DESC;
