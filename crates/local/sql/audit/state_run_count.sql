SELECT COUNT(*) AS runs FROM state_runs WHERE execution_id = :execution_id;
