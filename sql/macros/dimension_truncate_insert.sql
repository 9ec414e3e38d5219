-- truncate-insert: rebuild the dimension from every staged day.
-- DELETE rather than TRUNCATE: Redshift's TRUNCATE commits the transaction.
DELETE FROM {{table}};
INSERT INTO {{table}}
SELECT * FROM ({{source}}) AS src;
