-- After copying one day of a source: how many lines its files held, and how
-- many of those were of erased patients and not staged (the stage's clear
-- removed what an earlier run recorded for the day).
INSERT INTO stage_audit (logical_date, source, run_id, files, lines_read, suppressed)
VALUES (CAST(:logical_date AS DATE), :source, :run_id, CAST(:files AS INTEGER), CAST(:lines_read AS BIGINT), CAST(:suppressed AS BIGINT));
