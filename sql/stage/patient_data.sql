-- Before copying a day of patient_data: remove what an earlier run staged.
DELETE FROM staging_patient WHERE logical_date = CAST(:logical_date AS DATE);
DELETE FROM quarantine WHERE logical_date = CAST(:logical_date AS DATE) AND source = 'patient_data';
