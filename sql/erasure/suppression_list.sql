-- The suppression list: the keyed hashes of every erased patient. The stage
-- task removes their lines from every later delivery.
SELECT DISTINCT patient_hash FROM erasures;
