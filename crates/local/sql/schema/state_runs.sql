-- Every state an execution ran: input, output, attempts, duration, error.
CREATE TABLE IF NOT EXISTS state_runs (
    execution_id VARCHAR(80) NOT NULL,
    seq INTEGER NOT NULL,
    path VARCHAR(256) NOT NULL,
    state_name VARCHAR(128) NOT NULL,
    state_type VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL,
    started_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    error VARCHAR(256),
    cause VARCHAR(65535),
    -- The error as data ({"error", "detail"}, JSON), when the task said it.
    detail VARCHAR(65535),
    input VARCHAR(65535) NOT NULL,
    output VARCHAR(65535),
    redrive_count INTEGER NOT NULL DEFAULT 0
);
