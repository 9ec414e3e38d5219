-- What an erasure removed, per place, over its patients (and over its runs:
-- a run again of an erasure finds nothing left and logs zeros).
SELECT place, CAST(SUM(rows_erased) AS BIGINT) AS rows_erased
FROM erasures
WHERE erasure_id = :erasure_id
GROUP BY place
ORDER BY place;
