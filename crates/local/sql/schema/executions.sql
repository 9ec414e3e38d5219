-- Every execution of a state machine: its input, how it ended, and where.
-- A daily execution loads logical_date, or the range logical_date through
-- through (NULL for one day).
-- A backfill is an execution of its own (state_machine 'backfill'); the daily
-- executions it starts name it in parent_execution_id. redrive_count counts
-- the times a failed execution was resumed from its failed state. data_root
-- is the folder the embedded runner read (a redrive reads it again).
CREATE TABLE IF NOT EXISTS executions (
    execution_id VARCHAR(80) NOT NULL,
    state_machine VARCHAR(64) NOT NULL,
    logical_date DATE,
    through DATE,
    input VARCHAR(65535) NOT NULL,
    status VARCHAR(16) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    failed_state VARCHAR(256),
    error VARCHAR(256),
    cause VARCHAR(65535),
    parent_execution_id VARCHAR(80),
    redrive_count INTEGER NOT NULL DEFAULT 0,
    data_root VARCHAR(4096)
);
