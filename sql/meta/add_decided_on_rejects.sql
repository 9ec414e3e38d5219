-- A warehouse made before tests could wait for their patient's first record:
-- every reject it holds was decided on its delivery day.
ALTER TABLE rejects ADD COLUMN decided_on DATE;
UPDATE rejects SET decided_on = logical_date;
