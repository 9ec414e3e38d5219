-- Before copying the days of log_data: remove what an earlier run staged and
-- recorded for them.
DELETE FROM staging_bloodtest WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);
DELETE FROM quarantine WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'log_data';
DELETE FROM stage_audit WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE) AND source = 'log_data';
