-- The most recent failed (or aborted) daily execution whose day has not
-- succeeded since: what `ovom redrive` resumes when no execution is named.
SELECT e.execution_id
FROM executions AS e
WHERE e.state_machine = 'pipeline'
  AND e.status IN ('FAILED', 'ABORTED')
  AND NOT EXISTS (
      SELECT 1 FROM executions AS s
      WHERE s.state_machine = 'pipeline'
        AND e.logical_date BETWEEN s.logical_date AND COALESCE(s.through, s.logical_date)
        AND s.status = 'SUCCEEDED'
        AND s.started_at > e.started_at
  )
ORDER BY e.started_at DESC, e.execution_id DESC
LIMIT 1;
