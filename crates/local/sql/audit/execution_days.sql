-- Each day a daily execution covers, one row per day: logical_date through
-- through (one day when through is NULL), with the execution's columns. The
-- run history is local (on AWS it is Step Functions'), so `ovom` creates
-- this view when it opens the warehouse for writing.
CREATE OR REPLACE VIEW execution_days AS
SELECT e.*,
       CAST(unnest(generate_series(
           CAST(e.logical_date AS TIMESTAMP),
           CAST(COALESCE(e.through, e.logical_date) AS TIMESTAMP),
           INTERVAL 1 DAY)) AS DATE) AS day
FROM executions AS e
WHERE e.state_machine = 'pipeline' AND e.logical_date IS NOT NULL;
