-- history_patients_current: (materialized per run as the table patients_current) each patient's MBIs as of its latest Patient record (the crosswalk through
-- which BCDA's claims reach their MBI: BCDA puts MBIs on Patient, not on the EOB): the latest
-- moment (updated_us), the first landed on a tie.
SELECT
    source,
    patient_id,
    mbi,
    historic_mbis,
    last_updated,
    last_updated_utc,
    updated_us,
    updated_from,
    run_id,
    object_key,
    line
FROM (
    SELECT
        p.*,
        row_number() OVER (
            PARTITION BY p.source, p.patient_id
            ORDER BY p.updated_us DESC, p.run_id, p.object_key, p.line
        ) AS state_rank
    FROM patients AS p
) AS ranked
WHERE state_rank = 1
