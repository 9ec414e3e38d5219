SELECT COUNT(*) AS n FROM state_runs WHERE execution_id = :execution_id;
