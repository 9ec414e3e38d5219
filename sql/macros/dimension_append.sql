-- append: insert the keys the day brings that the dimension does not have;
-- rows already there are never changed.
INSERT INTO {{table}}
SELECT * FROM ({{source}}) AS src
WHERE NOT EXISTS (SELECT 1 FROM {{table}} AS cur WHERE cur.{{key}} = src.{{key}});
