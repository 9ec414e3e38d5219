-- Before copying a day of log_data: remove what an earlier run staged.
DELETE FROM staging_bloodtest WHERE logical_date = CAST(:logical_date AS DATE);
DELETE FROM quarantine WHERE logical_date = CAST(:logical_date AS DATE) AND source = 'log_data';
