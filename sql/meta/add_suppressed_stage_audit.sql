-- A warehouse made before erasure: no line it read was of an erased patient.
ALTER TABLE stage_audit ADD COLUMN suppressed BIGINT;
UPDATE stage_audit SET suppressed = 0;
