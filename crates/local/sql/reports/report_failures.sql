-- Run report: the most recent failed executions, with the state that failed,
-- its error and cause, and how its days stand now: SUCCEEDED once each of
-- them has succeeded since (a range is not resolved by one of its days),
-- else the latest status of its first day (FAILED when that one succeeded).
SELECT f.execution_id, f.state_machine, f.logical_date, f.started_at,
       f.failed_state, f.error, f.cause, f.parent_execution_id, f.redrive_count,
       CASE
           WHEN f.state_machine = 'pipeline' AND NOT EXISTS (
               SELECT 1 FROM execution_days AS d
               WHERE d.execution_id = f.execution_id
                 AND NOT EXISTS (
                     SELECT 1 FROM execution_days AS s
                     WHERE s.day = d.day
                       AND s.status = 'SUCCEEDED'
                       AND s.started_at > f.started_at
                 )
           ) THEN 'SUCCEEDED'
           ELSE (SELECT CASE WHEN l.status = 'SUCCEEDED' AND f.state_machine = 'pipeline' THEN 'FAILED' ELSE l.status END
                 FROM executions AS l
                 WHERE l.state_machine = f.state_machine AND l.logical_date = f.logical_date
                 ORDER BY l.started_at DESC, LENGTH(l.execution_id) DESC, l.execution_id DESC
                 LIMIT 1)
       END AS day_status_now
FROM executions AS f
WHERE f.status = 'FAILED'
ORDER BY f.started_at DESC, f.logical_date DESC, LENGTH(f.execution_id) DESC, f.execution_id DESC
LIMIT 15;
