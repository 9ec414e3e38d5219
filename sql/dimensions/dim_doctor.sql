-- Each doctor the scope's tests name, as of their latest test (on a tie,
-- the earliest day's, which a merge of one day after another keeps).
SELECT doc_id, doc_name, clinic, last_seen_at
FROM (
    SELECT
        doc_id,
        doc_name,
        clinic,
        ts AS last_seen_at,
        ROW_NUMBER() OVER (PARTITION BY doc_id ORDER BY ts DESC, logical_date, test_id DESC) AS version_rank
    FROM stg_bloodtest
    WHERE CAST(:all_days AS BOOLEAN) OR logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
) AS latest
WHERE version_rank = 1
