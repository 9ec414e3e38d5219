-- Run report: the most recent failed executions, with the state that failed,
-- its error and cause, and how the day stands now (its latest execution).
SELECT f.execution_id, f.state_machine, f.logical_date, f.started_at,
       f.failed_state, f.error, f.cause, f.parent_execution_id, f.redrive_count,
       (SELECT l.status FROM executions AS l
         WHERE l.state_machine = f.state_machine AND l.logical_date = f.logical_date
         ORDER BY l.started_at DESC, LENGTH(l.execution_id) DESC, l.execution_id DESC
         LIMIT 1) AS day_status_now
FROM executions AS f
WHERE f.status = 'FAILED'
ORDER BY f.started_at DESC, f.logical_date DESC, LENGTH(f.execution_id) DESC, f.execution_id DESC
LIMIT 15;
