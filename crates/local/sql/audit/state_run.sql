INSERT INTO state_runs (
    execution_id, seq, path, state_name, state_type, status, attempts,
    started_at, duration_ms, error, cause, detail, input, output, redrive_count
) VALUES (
    :execution_id, CAST(:seq AS INTEGER), :path, :state_name, :state_type, :status, CAST(:attempts AS INTEGER),
    CAST(:started_at AS TIMESTAMP), CAST(:duration_ms AS BIGINT), :error, :cause, :detail, :input, :output, CAST(:redrive_count AS INTEGER)
);
