-- Warehouses made before a column of the run history existed gain it (NULL
-- for what they recorded before): the executions' data root, and the
-- failures' detail as data.
ALTER TABLE executions ADD COLUMN IF NOT EXISTS data_root VARCHAR(4096);
ALTER TABLE state_runs ADD COLUMN IF NOT EXISTS detail VARCHAR(65535);
