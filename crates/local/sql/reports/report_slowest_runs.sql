-- Run report: the ten longest state runs of the daily state machine
-- (Parallel branches included; retry delays count towards a run's time).
SELECT s.execution_id, e.logical_date, s.path, s.state_type, s.status,
       s.attempts, s.duration_ms, s.redrive_count
FROM state_runs AS s
JOIN executions AS e ON e.execution_id = s.execution_id
WHERE e.state_machine = 'pipeline'
ORDER BY s.duration_ms DESC, e.logical_date DESC, s.execution_id, s.seq
LIMIT 10;
