-- The columns a later release added to a table that already existed, as the
-- warehouse has them: decided_on (tests that wait for a late patient record),
-- patient_version_key (the patient's version in force at the test) and
-- suppressed (lines of erased patients a stage did not stage).
SELECT table_name, column_name
FROM information_schema.columns
WHERE (table_name IN ('fact_bloodtest', 'rejects') AND column_name = 'decided_on')
   OR (table_name = 'fact_bloodtest' AND column_name = 'patient_version_key')
   OR (table_name = 'stage_audit' AND column_name = 'suppressed');
