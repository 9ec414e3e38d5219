INSERT INTO executions (execution_id, state_machine, logical_date, through, input, status, started_at, parent_execution_id, data_root)
VALUES (:execution_id, :state_machine, CAST(:logical_date AS DATE), CAST(:through AS DATE), :input, 'RUNNING', CAST(:started_at AS TIMESTAMP), :parent_execution_id, :data_root);
