-- The tables that already have the decided_on column (fact_bloodtest and
-- rejects gained it when tests began to wait for late patient records).
SELECT table_name
FROM information_schema.columns
WHERE table_name IN ('fact_bloodtest', 'rejects')
  AND column_name = 'decided_on';
