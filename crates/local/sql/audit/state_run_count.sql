SELECT COUNT(*) FROM state_runs WHERE execution_id = :execution_id;
