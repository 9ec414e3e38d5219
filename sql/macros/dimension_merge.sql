-- merge (upsert): insert new keys, and replace a row when the day brings a
-- newer version of it. Delete + insert, which both engines run alike.
CREATE TEMP TABLE {{table}}_changes AS
SELECT * FROM ({{source}}) AS src
WHERE NOT EXISTS (
    SELECT 1 FROM {{table}} AS cur
    WHERE cur.{{key}} = src.{{key}} AND cur.{{version}} >= src.{{version}}
);
DELETE FROM {{table}} WHERE {{key}} IN (SELECT {{key}} FROM {{table}}_changes);
INSERT INTO {{table}} SELECT * FROM {{table}}_changes;
DROP TABLE {{table}}_changes;
