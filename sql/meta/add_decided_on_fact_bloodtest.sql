-- A warehouse made before tests could wait for their patient's first record:
-- every row it holds was loaded on its delivery day.
ALTER TABLE fact_bloodtest ADD COLUMN decided_on DATE;
UPDATE fact_bloodtest SET decided_on = logical_date;
