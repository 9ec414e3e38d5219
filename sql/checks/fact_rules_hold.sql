-- No fact row of the day breaks a validity rule of the data contract: its
-- patient was known on the day it was loaded (decided_on).
-- compare: =
SELECT COUNT(*) AS got, 0 AS expected
FROM fact_bloodtest AS f
WHERE f.logical_date BETWEEN CAST(:logical_date AS DATE) AND CAST(:through AS DATE)
  AND NOT (
        f.ap_hi BETWEEN 60 AND 250
    AND f.ap_lo BETWEEN 30 AND 200
    AND f.ap_hi >= f.ap_lo
    AND f.cholesterol IN (1, 2, 3) AND f.gluc IN (1, 2, 3)
    AND f.smoke IN (0, 1) AND f.alco IN (0, 1) AND f.active IN (0, 1) AND f.cardio IN (0, 1)
    AND EXISTS (
        SELECT 1 FROM dim_patient AS p
        WHERE p.patient_id = f.patient_id
          AND p.first_seen_on <= f.decided_on
    )
  );
