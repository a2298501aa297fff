-- claim_versions: every claim version (one claim id of a family) at its latest state.
-- A version's state is its record with the latest last_updated: a cancellation re-sends an old
-- version with a newer lastUpdated (CMS, AB2D "Claims data details"). Records of one claim id with
-- the same last_updated are duplicates: the first landed is kept (claim_duplicates lists them).
-- received_utc is the earliest last_updated seen for the claim id: when the version first arrived
-- (the "Received" column of CMS's tables); records is how many records of it landed.
-- A deletion is a cancellation: a SMART server deletes a cancelled claim (deleted_resources) where
-- BFD re-sends it cancelled. A version whose resource a run deleted at or after the last run that
-- delivered a record of it is cancelled; a record of a later run brings it back (run ids sort by
-- time). The deletion carries no lastUpdated: the other columns stay the state record's.
SELECT
    source,
    claim_group_id,
    claim_id,
    CASE WHEN deleted_run >= latest_run THEN 'cancelled' ELSE status END AS status,
    last_updated,
    last_updated_utc,
    claim_type,
    service_start,
    service_end,
    patient,
    mbi,
    historic_mbis,
    resource_id,
    run_id,
    object_key,
    line,
    received_utc,
    records
FROM (
    SELECT
        r.*,
        row_number() OVER (
            PARTITION BY r.source, r.claim_group_id, r.claim_id
            ORDER BY r.last_updated_utc DESC, r.run_id, r.object_key, r.line
        ) AS state_rank,
        min(r.last_updated_utc) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS received_utc,
        count(*) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS records,
        max(r.run_id) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS latest_run,
        max(d.deleted_run) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS deleted_run
    FROM claim_version_rows AS r
    LEFT JOIN (
        SELECT source, resource_id, max(run_id) AS deleted_run
        FROM deleted_resources
        WHERE resource_type = 'ExplanationOfBenefit'
        GROUP BY source, resource_id
    ) AS d
        ON d.source = r.source AND d.resource_id = r.resource_id
) AS ranked
WHERE state_rank = 1
