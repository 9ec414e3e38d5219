-- How many executions of a state machine there were for a day (or, with a
-- NULL date, in all): the next execution's number is one more.
SELECT COUNT(*) AS n
FROM executions
WHERE state_machine = :state_machine
  AND (logical_date = CAST(:logical_date AS DATE)
       OR (CAST(:logical_date AS DATE) IS NULL AND logical_date IS NULL));
