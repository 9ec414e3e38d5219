-- A failed execution resumes: it runs again under the same id and input.
UPDATE executions
SET status = 'RUNNING',
    redrive_count = CAST(:redrive_count AS INTEGER),
    finished_at = NULL,
    failed_state = NULL,
    error = NULL,
    cause = NULL
WHERE execution_id = :execution_id;
