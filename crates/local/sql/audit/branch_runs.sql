-- The states that ran inside a top-level Parallel's latest run (between the
-- top-level state recorded before it and its own record): a redrive keeps
-- the branches that succeeded and runs only the others, as Step Functions'
-- RedriveExecution does.
WITH parallel AS (
    SELECT MAX(seq) AS seq
    FROM state_runs
    WHERE execution_id = :execution_id AND path = :state_name
), before AS (
    SELECT COALESCE(MAX(s.seq), 0) AS seq
    FROM state_runs AS s, parallel
    WHERE s.execution_id = :execution_id AND s.seq < parallel.seq AND strpos(s.path, '/') = 0
)
SELECT s.path, s.status, s.output
FROM state_runs AS s, parallel, before
WHERE s.execution_id = :execution_id AND s.seq > before.seq AND s.seq < parallel.seq
ORDER BY s.seq;
