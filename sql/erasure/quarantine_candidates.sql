-- Quarantined lines whose text holds the patient id's digits (:pattern is
-- `%<id>%`): the task decides which of them are the patient's.
SELECT logical_date, source, source_file, line_no, "raw"
FROM quarantine
WHERE "raw" LIKE :pattern;
