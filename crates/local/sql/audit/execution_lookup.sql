SELECT execution_id, state_machine, logical_date, through, input, status, failed_state,
       redrive_count, data_root
FROM executions
WHERE execution_id = :execution_id;
