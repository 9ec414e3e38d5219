SELECT execution_id, state_machine, CAST(logical_date AS VARCHAR), input, status, failed_state, redrive_count,
       CAST(through AS VARCHAR), data_root
FROM executions
WHERE execution_id = :execution_id;
