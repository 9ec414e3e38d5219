-- The raw input the latest run of a top-level state had: where a redrive
-- resumes, with what.
SELECT input
FROM state_runs
WHERE execution_id = :execution_id
  AND path = :state_name
ORDER BY seq DESC
LIMIT 1;
