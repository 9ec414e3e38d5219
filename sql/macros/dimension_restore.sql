-- restore (after an erasure deleted the rows its erased tests named): insert
-- each key the table lacks that a staged test still names, as of every
-- staged day, as a merge of every day gives it.
INSERT INTO {{table}}
SELECT * FROM ({{source}}) AS src
WHERE NOT EXISTS (SELECT 1 FROM {{table}} AS cur WHERE cur.{{key}} = src.{{key}});
