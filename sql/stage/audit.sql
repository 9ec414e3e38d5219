-- After copying: how many lines the day's files held.
DELETE FROM stage_audit WHERE logical_date = CAST(:logical_date AS DATE) AND source = :source;
INSERT INTO stage_audit (logical_date, source, run_id, files, lines_read)
VALUES (CAST(:logical_date AS DATE), :source, :run_id, CAST(:files AS INTEGER), CAST(:lines_read AS BIGINT));
