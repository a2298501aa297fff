-- claim_versions: every claim version (one claim id of a family) at its latest state.
-- A version's state is its record with the latest last_updated: a cancellation re-sends an old
-- version with a newer lastUpdated (CMS, AB2D "Claims data details"). Records of one claim id with
-- the same last_updated are duplicates: the first landed is kept (claim_duplicates lists them).
-- received_utc is the earliest last_updated seen for the claim id: when the version first arrived
-- (the "Received" column of CMS's tables); records is how many records of it landed.
SELECT
    source,
    claim_group_id,
    claim_id,
    status,
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
        count(*) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS records
    FROM claim_version_rows AS r
) AS ranked
WHERE state_rank = 1
