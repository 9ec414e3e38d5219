-- The days a backfill has loaded: those whose daily execution it started
-- succeeded. Its redrive resumes at the first day of its range not among
-- them, as Step Functions' redrive of the backfill's Map reruns the
-- iterations that did not succeed.
SELECT DISTINCT day
FROM execution_days
WHERE parent_execution_id = :execution_id AND status = 'SUCCEEDED'
ORDER BY 1;
