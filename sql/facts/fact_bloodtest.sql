-- Load the blood tests decided on the logical days :logical_date through
-- :through (one day, or a range loaded in one pass with the result of
-- loading its days one after another): every staged test ends up in exactly
-- one of fact_bloodtest, rejects, duplicates or pending_tests. A test is
-- decided on its delivery day, except one whose patient has no record yet
-- (the data contract's late patient records): it waits, and is loaded on the
-- day its patient's first record is delivered when that is at most
-- :wait_days days after its own (wait_until), or rejected `unknown_patient`
-- on wait_until. So these days decide the tests delivered from :window_from
-- (:wait_days days before :logical_date) on, and every test still waiting
-- (its wait_until may have passed on days that had no run). What an earlier
-- run decided on these days is removed first, so a re-run replaces it; the
-- load task runs this file in one transaction.

-- Each patient's first delivery day: a test is decided against it.
CREATE TEMP TABLE patient_first_day AS
SELECT patient_id, MIN(first_seen_on) AS first_seen_on
FROM dim_patient
GROUP BY patient_id;

-- What these days decide again: the rows decided on them, and a row whose
-- outcome hangs on its patient's first day (loaded, or rejected
-- `unknown_patient`) when that outcome now falls on them (a patient's day
-- loaded late moves it).
DELETE FROM fact_bloodtest
WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
  AND (
        decided_on BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
     OR test_id IN (
            SELECT f.test_id
            FROM fact_bloodtest AS f
            LEFT JOIN patient_first_day AS k ON k.patient_id = f.patient_id
            WHERE f.logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
              AND CASE
                    WHEN k.first_seen_on <= f.logical_date THEN f.logical_date
                    WHEN k.first_seen_on <= {{wait_until:f.logical_date}} THEN k.first_seen_on
                    ELSE {{wait_until:f.logical_date}}
                  END BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
        )
  );
DELETE FROM rejects
WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
  AND (
        decided_on BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
     OR test_id IN (
            SELECT r.test_id
            FROM rejects AS r
            LEFT JOIN patient_first_day AS k ON k.patient_id = r.patient_id
            WHERE r.logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
              AND r.reason = 'unknown_patient'
              AND CASE
                    WHEN k.first_seen_on <= r.logical_date THEN r.logical_date
                    WHEN k.first_seen_on <= {{wait_until:r.logical_date}} THEN k.first_seen_on
                    ELSE {{wait_until:r.logical_date}}
                  END BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
        )
  );
DELETE FROM duplicates WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE);

-- The tests these days decide: the staged tests of the window that now hold
-- no outcome, and the tests still waiting. They are picked first, by a
-- filter on the delivery day alone (which both engines prune by: a day
-- reads its window, not the year), and only their test_ids are looked up
-- in what was decided before. Dedup first (within a day the first copy in
-- file and line order is kept; a test_id that an earlier day of those, or
-- another day, loaded or rejected is a duplicate: prior_day is the day of
-- the copy before it in day, file and line order), then the contract's
-- rules in its order: the reason is the first rule that fails; then the
-- patient. A test is decided on decided_on when that is not after :through,
-- and waits otherwise. Only the rows that are not loaded are kept (rejects,
-- duplicates and the tests that wait), a staged row named by its day, file
-- and line.
CREATE TEMP TABLE day_outcome AS
SELECT logical_date, source_file, line_no, test_id, patient_id, reason, decided_on, wait_until
FROM (
    SELECT
        d.*,
        CASE
            WHEN d.reason = 'unknown_patient' THEN d.wait_until
            WHEN d.reason IS NOT NULL THEN d.logical_date
            WHEN d.first_seen_on > d.logical_date THEN d.first_seen_on
            ELSE d.logical_date
        END AS decided_on
    FROM (
        SELECT
            t.logical_date, t.source_file, t.line_no, t.test_id, t.patient_id,
            t.first_seen_on, t.wait_until,
            CASE
                WHEN t.prior_day = t.logical_date OR t.seen_day = t.logical_date THEN 'same_day'
                WHEN t.prior_day IS NOT NULL OR t.seen_day IS NOT NULL THEN 'other_day'
                WHEN NOT (t.ap_hi BETWEEN 60 AND 250 AND t.ap_lo BETWEEN 30 AND 200) THEN 'implausible_pressure'
                WHEN t.ap_hi < t.ap_lo THEN 'systolic_below_diastolic'
                WHEN t.cholesterol NOT IN (1, 2, 3) OR t.gluc NOT IN (1, 2, 3)
                  OR t.smoke NOT IN (0, 1) OR t.alco NOT IN (0, 1)
                  OR t.active NOT IN (0, 1) OR t.cardio NOT IN (0, 1) THEN 'out_of_domain'
                WHEN t.first_seen_on IS NULL OR t.first_seen_on > t.wait_until THEN 'unknown_patient'
            END AS reason
        FROM (
            SELECT
                s.logical_date, s.source_file, s.line_no, s.test_id, s.patient_id,
                s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco, s.active, s.cardio,
                LAG(s.logical_date) OVER (
                    PARTITION BY s.test_id ORDER BY s.logical_date, s.source_file, s.line_no
                ) AS prior_day,
                seen.seen_day,
                k.first_seen_on,
                {{wait_until:s.logical_date}} AS wait_until
            FROM (
                SELECT * FROM stg_bloodtest
                WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
                UNION ALL
                SELECT p.* FROM stg_bloodtest AS p
                JOIN pending_tests AS w
                  ON w.logical_date = p.logical_date AND w.source_file = p.source_file
                 AND w.line_no = p.line_no
                WHERE p.logical_date < CAST(:window_from AS DATE)
            ) AS s
            LEFT JOIN (
                SELECT logical_date, source_file, line_no FROM fact_bloodtest
                WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
                UNION ALL
                SELECT logical_date, source_file, line_no FROM rejects
                WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
                UNION ALL
                SELECT logical_date, source_file, line_no FROM duplicates
                WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
            ) AS held
              ON held.logical_date = s.logical_date AND held.source_file = s.source_file
             AND held.line_no = s.line_no
            LEFT JOIN (
                SELECT test_id, MIN(logical_date) AS seen_day
                FROM (
                    SELECT test_id, logical_date FROM fact_bloodtest
                    UNION ALL
                    SELECT test_id, logical_date FROM rejects
                ) AS decided
                WHERE test_id IN (
                    SELECT test_id FROM stg_bloodtest
                    WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
                    UNION ALL
                    SELECT test_id FROM pending_tests
                )
                GROUP BY test_id
            ) AS seen ON seen.test_id = s.test_id
            LEFT JOIN patient_first_day AS k ON k.patient_id = s.patient_id
            WHERE held.line_no IS NULL
        ) AS t
    ) AS d
) AS outcome
WHERE reason IS NOT NULL
   OR decided_on > CAST(:through AS DATE);

INSERT INTO fact_bloodtest (
    test_id, patient_id, patient_version_key, doc_id, lab_id, date_key, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio,
    logical_date, decided_on, source_file, line_no, run_id
)
SELECT
    s.test_id, s.patient_id, v.patient_version_key, s.doc_id, s.lab_id, s.date_key, s.ts,
    s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco, s.active, s.cardio,
    s.logical_date,
    CASE WHEN k.first_seen_on > s.logical_date THEN k.first_seen_on ELSE s.logical_date END,
    s.source_file, s.line_no, :run_id
FROM (
    SELECT * FROM stg_bloodtest
    WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
    UNION ALL
    SELECT p.* FROM stg_bloodtest AS p
    JOIN pending_tests AS w
      ON w.logical_date = p.logical_date AND w.source_file = p.source_file AND w.line_no = p.line_no
    WHERE p.logical_date < CAST(:window_from AS DATE)
) AS s
LEFT JOIN (
    SELECT logical_date, source_file, line_no FROM fact_bloodtest
    WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
    UNION ALL
    SELECT logical_date, source_file, line_no FROM rejects
    WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
    UNION ALL
    SELECT logical_date, source_file, line_no FROM duplicates
    WHERE logical_date BETWEEN CAST(:window_from AS DATE) AND CAST(:through AS DATE)
) AS held
  ON held.logical_date = s.logical_date AND held.source_file = s.source_file
 AND held.line_no = s.line_no
LEFT JOIN day_outcome AS o
  ON o.logical_date = s.logical_date AND o.source_file = s.source_file AND o.line_no = s.line_no
LEFT JOIN patient_first_day AS k ON k.patient_id = s.patient_id
LEFT JOIN dim_patient_history AS v
  ON v.patient_id = s.patient_id
 AND s.ts >= CASE WHEN v.version_no = 1 THEN CAST('0001-01-01 00:00:00' AS TIMESTAMP) ELSE v.valid_from END
 AND s.ts < v.valid_to
WHERE held.line_no IS NULL
  AND o.line_no IS NULL;

INSERT INTO rejects (
    logical_date, reason, decided_on, source_file, line_no, test_id, patient_id, doc_id, lab_id, ts,
    ap_hi, ap_lo, cholesterol, gluc, smoke, alco, active, cardio, run_id
)
SELECT
    s.logical_date, o.reason, o.decided_on, s.source_file, s.line_no, s.test_id, s.patient_id,
    s.doc_id, s.lab_id, s.ts, s.ap_hi, s.ap_lo, s.cholesterol, s.gluc, s.smoke, s.alco,
    s.active, s.cardio, :run_id
FROM day_outcome AS o
JOIN stg_bloodtest AS s
  ON s.logical_date = o.logical_date AND s.source_file = o.source_file AND s.line_no = o.line_no
WHERE s.logical_date <= CAST(:through AS DATE)
  AND o.reason NOT IN ('same_day', 'other_day')
  AND o.decided_on <= CAST(:through AS DATE);

INSERT INTO duplicates (logical_date, kind, source_file, line_no, test_id, run_id)
SELECT logical_date, reason, source_file, line_no, test_id, :run_id
FROM day_outcome
WHERE reason IN ('same_day', 'other_day')
  AND decided_on <= CAST(:through AS DATE);

-- Still waiting after these days: the tests decided after :through.
DELETE FROM pending_tests WHERE logical_date <= CAST(:through AS DATE);
INSERT INTO pending_tests (logical_date, source_file, line_no, test_id, patient_id, wait_until, run_id)
SELECT logical_date, source_file, line_no, test_id, patient_id, wait_until, :run_id
FROM day_outcome
WHERE decided_on > CAST(:through AS DATE);

-- The patients whose records these days bring have had their versions
-- rebuilt (dim_patient_history): each of their tests references again the
-- version in force when it was taken (a late update moves the tests taken
-- after it).
UPDATE fact_bloodtest
SET patient_version_key = v.patient_version_key
FROM dim_patient_history AS v
WHERE v.patient_id = fact_bloodtest.patient_id
  AND fact_bloodtest.ts >= CASE WHEN v.version_no = 1 THEN CAST('0001-01-01 00:00:00' AS TIMESTAMP) ELSE v.valid_from END
  AND fact_bloodtest.ts < v.valid_to
  AND fact_bloodtest.patient_version_key <> v.patient_version_key
  AND fact_bloodtest.patient_id IN (
        SELECT patient_id FROM stg_patient
        WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
        UNION
        SELECT patient_id FROM dim_patient_history
        WHERE logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  );

DROP TABLE day_outcome;
DROP TABLE patient_first_day;
