-- The most recent failed (or aborted) daily execution with a day that has
-- not succeeded since: what `ovom redrive` resumes when no execution is
-- named. A range stays unresolved until each of its days has succeeded.
SELECT e.execution_id
FROM executions AS e
WHERE e.state_machine = 'pipeline'
  AND e.status IN ('FAILED', 'ABORTED')
  AND EXISTS (
      SELECT 1 FROM execution_days AS d
      WHERE d.execution_id = e.execution_id
        AND NOT EXISTS (
            SELECT 1 FROM execution_days AS s
            WHERE s.day = d.day
              AND s.status = 'SUCCEEDED'
              AND s.started_at > e.started_at
        )
  )
ORDER BY e.started_at DESC, e.execution_id DESC
LIMIT 1;
