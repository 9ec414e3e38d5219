-- Warehouses built before executions recorded their data root gain the
-- column (NULL for their earlier executions).
ALTER TABLE executions ADD COLUMN IF NOT EXISTS data_root VARCHAR(4096);
