-- Executions still RUNNING when a process opens the warehouse for writing
-- belong to a process that stopped (killed, or the machine went down): only
-- one process can hold the warehouse for writing at a time.
UPDATE executions
SET status = 'ABORTED',
    finished_at = CAST(:now AS TIMESTAMP),
    error = 'States.Aborted',
    cause = 'the process running this execution stopped before it ended'
WHERE status = 'RUNNING';
