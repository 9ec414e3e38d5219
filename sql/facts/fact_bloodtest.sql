-- Load one logical day of blood tests: every staged test of the day ends up
-- in exactly one of fact_bloodtest, rejects or duplicates. The day's earlier
-- writes are removed first, so a re-run replaces the day; the load task runs
-- this file in one transaction.

DELETE FROM fact_bloodtest WHERE logical_date = CAST(:logical_date AS DATE);
DELETE FROM rejects WHERE logical_date = CAST(:logical_date AS DATE);
DELETE FROM duplicates WHERE logical_date = CAST(:logical_date AS DATE);

-- Dedup first (the first copy in file and line order is kept; a test_id that
-- another day loaded or rejected is a duplicate), then the contract's rules in
-- its order: the reason is the first rule that fails.
CREATE TEMP TABLE day_outcome AS
SELECT
    t.*,
    CASE
        WHEN t.copy_rank > 1 THEN 'same_day'
        WHEN t.delivered_before = 1 THEN 'other_day'
        WHEN NOT (t.ap_hi BETWEEN 60 AND 250 AND t.ap_lo BETWEEN 30 AND 200) THEN 'implausible_pressure'
        WHEN t.ap_hi < t.ap_lo THEN 'systolic_below_diastolic'
        WHEN t.cholesterol NOT IN (1, 2, 3) OR t.gluc NOT IN (1, 2, 3)
          OR t.smoke NOT IN (0, 1) OR t.alco NOT IN (0, 1)
          OR t.active NOT IN (0, 1) OR t.cardio NOT IN (0, 1) THEN 'out_of_domain'
        WHEN t.patient_known = 0 THEN 'unknown_patient'
    END AS reason
FROM (
    SELECT
        s.*,
        ROW_NUMBER() OVER (PARTITION BY s.test_id ORDER BY s.source_file, s.line_no) AS copy_rank,
        CASE
            WHEN EXISTS (SELECT 1 FROM fact_bloodtest AS f WHERE f.test_id = s.test_id)
              OR EXISTS (SELECT 1 FROM rejects AS r WHERE r.test_id = s.test_id)
            THEN 1 ELSE 0
        END AS delivered_before,
        CASE
            WHEN EXISTS (
                SELECT 1 FROM dim_patient AS p
                WHERE p.patient_id = s.patient_id
                  AND p.first_seen_on <= CAST(:logical_date AS DATE)
            ) THEN 1 ELSE 0
        END AS patient_known
    FROM stg_bloodtest AS s
    WHERE s.logical_date = CAST(:logical_date AS DATE)
) AS t;

INSERT INTO fact_bloodtest (
    test_id, patient_id, doc_id, lab_id, date_key, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio,
    logical_date, source_file, line_no, run_id
)
SELECT
    test_id, patient_id, doc_id, lab_id, date_key, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio,
    logical_date, source_file, line_no, :run_id
FROM day_outcome
WHERE reason IS NULL;

INSERT INTO rejects (
    logical_date, reason, source_file, line_no, test_id, patient_id, doc_id, lab_id, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, run_id
)
SELECT
    logical_date, reason, source_file, line_no, test_id, patient_id, doc_id, lab_id, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, :run_id
FROM day_outcome
WHERE reason NOT IN ('same_day', 'other_day');

INSERT INTO duplicates (logical_date, kind, source_file, line_no, test_id, run_id)
SELECT logical_date, reason, source_file, line_no, test_id, :run_id
FROM day_outcome
WHERE reason IN ('same_day', 'other_day');

DROP TABLE day_outcome;
