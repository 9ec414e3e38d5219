-- The latest executions, newest first, for `ovom status`.
SELECT
    execution_id,
    state_machine,
    COALESCE(CAST(logical_date AS VARCHAR), '')
        || COALESCE(' … ' || CAST(through AS VARCHAR), '') AS logical_date,
    status,
    strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started_at,
    COALESCE(CAST(date_diff('millisecond', started_at, finished_at) AS VARCHAR), '') AS duration_ms,
    redrive_count,
    COALESCE(parent_execution_id, '') AS parent,
    COALESCE(failed_state, '') AS failed_state,
    COALESCE(error, '') AS error,
    COALESCE(cause, '') AS cause
FROM executions
ORDER BY started_at DESC, execution_id DESC
LIMIT CAST(:limit AS INTEGER);
