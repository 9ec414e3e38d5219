-- Run report: each step of the daily state machine, its runs and their
-- median and longest duration. A state inside a Parallel or a Map is one
-- step whatever its branch or item: LoadDimensions/0/LoadDimDoctor is
-- LoadDimensions/LoadDimDoctor.
SELECT step, MIN(state_type) AS state_type, COUNT(*) AS runs,
       MEDIAN(duration_ms) AS median_ms, MAX(duration_ms) AS max_ms
FROM (
    SELECT REGEXP_REPLACE(s.path, '/[0-9]+/', '/', 'g') AS step, s.state_type, s.duration_ms
    FROM state_runs AS s
    JOIN executions AS e ON e.execution_id = s.execution_id
    WHERE e.state_machine = 'pipeline'
) AS runs
GROUP BY step
ORDER BY median_ms DESC, max_ms DESC, step;
