-- DuckDB: the shared query's choice (each lab the scope's tests name, as of
-- their latest test; on a tie, the earliest day's, then the greatest
-- test_id) as one aggregation instead of a window over every test: arg_max
-- of the version's columns by that order as a key.
SELECT lab_id, v.lab_name AS lab_name, v.city AS city, v.last_seen_at AS last_seen_at
FROM (
    SELECT
        lab_id,
        arg_max(
            {'lab_name': lab_name, 'city': lab_city, 'last_seen_at': ts},
            {'ts': ts, 'day': -epoch(logical_date), 'test_id': test_id}
        ) AS v
    FROM stg_bloodtest
    WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    GROUP BY lab_id
) AS latest
