-- Each lab the scope's tests name, as of their latest test (on a tie,
-- the earliest day's, which a merge of one day after another keeps).
SELECT lab_id, lab_name, city, last_seen_at
FROM (
    SELECT
        lab_id,
        lab_name,
        lab_city AS city,
        ts AS last_seen_at,
        ROW_NUMBER() OVER (PARTITION BY lab_id ORDER BY ts DESC, logical_date, test_id DESC) AS version_rank
    FROM stg_bloodtest
    WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
) AS latest
WHERE version_rank = 1
