-- `ovom status`: the blood tests waiting for their patient's first record,
-- the oldest delivery day among them and the first day one of them is
-- rejected `unknown_patient` unless its patient arrives.
SELECT
    COUNT(*) AS tests,
    COALESCE(CAST(MIN(logical_date) AS VARCHAR), '') AS oldest_delivery,
    COALESCE(CAST(MIN(wait_until) AS VARCHAR), '') AS first_wait_until
FROM pending_tests;
