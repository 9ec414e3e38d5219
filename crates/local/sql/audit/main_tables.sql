-- The tables of the warehouse file: an ovom warehouse holds the fact and
-- the executions table; a file holding other tables is refused.
SELECT table_name
FROM information_schema.tables
WHERE table_schema = 'main'
ORDER BY table_name;
