UPDATE executions
SET status = :status,
    finished_at = CAST(:finished_at AS TIMESTAMP),
    failed_state = :failed_state,
    error = :error,
    cause = :cause
WHERE execution_id = :execution_id;
