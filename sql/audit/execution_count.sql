SELECT COUNT(*) FROM executions WHERE logical_date = CAST(:logical_date AS DATE);
