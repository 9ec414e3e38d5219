-- Executions still RUNNING when a process opens the warehouse for writing
-- belong to a process that stopped (killed, or the machine went down): only
-- one process can hold the warehouse for writing at a time.
-- When it stopped is not known: finished_at stays NULL (no duration is
-- made up from the time the next command happened to run).
UPDATE executions
SET status = 'ABORTED',
    error = 'States.Aborted',
    cause = 'the process running this execution stopped before it ended (found at '
        || strftime(CAST(:now AS TIMESTAMP), '%Y-%m-%d %H:%M:%S') || ' UTC)'
WHERE status = 'RUNNING';
