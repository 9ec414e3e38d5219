-- Load the blood tests of the logical days :logical_date through :through
-- (one day, or a range loaded in one pass with the result of loading its
-- days one after another): every staged test ends up in exactly one of
-- fact_bloodtest, rejects or duplicates. The days' earlier writes are removed
-- first, so a re-run replaces them; the load task runs this file in one
-- transaction.

DELETE FROM fact_bloodtest WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);
DELETE FROM rejects WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);
DELETE FROM duplicates WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);

-- The tests that are not loaded, and why: dedup first (within a day the first
-- copy in file and line order is kept; a test_id that an earlier day of the
-- range, or a day outside it, loaded or rejected is a duplicate), then the
-- contract's rules in its order: the reason is the first rule that fails.
-- Only the columns the decision needs are carried, and only the few rows
-- that are not loaded are kept; a staged row is named by its file and line.
CREATE TEMP TABLE day_outcome AS
SELECT logical_date, source_file, line_no, test_id, reason
FROM (
    SELECT
        t.logical_date, t.source_file, t.line_no, t.test_id,
        CASE
            WHEN t.copy_rank > 1 THEN 'same_day'
            WHEN t.logical_date > t.first_day OR t.delivered_before = 1 THEN 'other_day'
            WHEN NOT (t.ap_hi BETWEEN 60 AND 250 AND t.ap_lo BETWEEN 30 AND 200) THEN 'implausible_pressure'
            WHEN t.ap_hi < t.ap_lo THEN 'systolic_below_diastolic'
            WHEN t.cholesterol NOT IN (1, 2, 3) OR t.gluc NOT IN (1, 2, 3)
              OR t.smoke NOT IN (0, 1) OR t.alco NOT IN (0, 1)
              OR t.active NOT IN (0, 1) OR t.cardio NOT IN (0, 1) THEN 'out_of_domain'
            WHEN t.patient_known = 0 THEN 'unknown_patient'
        END AS reason
    FROM (
        SELECT
            s.logical_date, s.source_file, s.line_no, s.test_id,
            s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco, s.active, s.cardio,
            ROW_NUMBER() OVER (
                PARTITION BY s.test_id, s.logical_date ORDER BY s.source_file, s.line_no
            ) AS copy_rank,
            MIN(s.logical_date) OVER (PARTITION BY s.test_id) AS first_day,
            CASE WHEN seen.test_id IS NULL THEN 0 ELSE 1 END AS delivered_before,
            CASE WHEN known.first_seen_on <= s.logical_date THEN 1 ELSE 0 END AS patient_known
        FROM stg_bloodtest AS s
        LEFT JOIN (
            SELECT test_id FROM fact_bloodtest
            UNION
            SELECT test_id FROM rejects
        ) AS seen ON seen.test_id = s.test_id
        LEFT JOIN (
            SELECT patient_id, MIN(first_seen_on) AS first_seen_on
            FROM dim_patient
            GROUP BY patient_id
        ) AS known ON known.patient_id = s.patient_id
        WHERE s.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
    ) AS t
) AS decided
WHERE reason IS NOT NULL;

INSERT INTO fact_bloodtest (
    test_id, patient_id, doc_id, lab_id, date_key, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio,
    logical_date, source_file, line_no, run_id
)
SELECT
    s.test_id, s.patient_id, s.doc_id, s.lab_id, s.date_key, s.ts,
    s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco, s.active, s.cardio,
    s.logical_date, s.source_file, s.line_no, :run_id
FROM stg_bloodtest AS s
LEFT JOIN day_outcome AS o ON o.source_file = s.source_file AND o.line_no = s.line_no
WHERE s.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND o.line_no IS NULL;

INSERT INTO rejects (
    logical_date, reason, source_file, line_no, test_id, patient_id, doc_id, lab_id, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, run_id
)
SELECT
    s.logical_date, o.reason, s.source_file, s.line_no, s.test_id, s.patient_id, s.doc_id,
    s.lab_id, s.ts, s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco, s.active,
    s.cardio, :run_id
FROM day_outcome AS o
JOIN stg_bloodtest AS s ON s.source_file = o.source_file AND s.line_no = o.line_no
WHERE s.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND o.reason NOT IN ('same_day', 'other_day');

INSERT INTO duplicates (logical_date, kind, source_file, line_no, test_id, run_id)
SELECT logical_date, reason, source_file, line_no, test_id, :run_id
FROM day_outcome
WHERE reason IN ('same_day', 'other_day');

DROP TABLE day_outcome;
