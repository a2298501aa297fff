-- claim_versions: every claim version (one claim id of a family) at its latest state.
-- A version's state is its record with the latest last_updated: a cancellation re-sends an old
-- version with a newer lastUpdated (CMS, AB2D "Claims data details"). Records of one claim id with
-- the same last_updated are duplicates: the first landed is kept (claim_duplicates lists them).
-- received_utc is the earliest last_updated seen for the claim id: when the version first arrived
-- (the "Received" column of CMS's tables); records is how many records of it landed.
-- A deletion is a cancellation: a SMART server deletes a cancelled claim (deleted_resources) where
-- BFD re-sends it cancelled. A version whose resource (its state record's resource_id) a run
-- deleted at or after the last run that delivered a record of it is cancelled; a record of a
-- later run brings it back (run ids sort by time). The deletion carries no lastUpdated: the other
-- columns stay the state record's.
SELECT
    ranked.source,
    ranked.claim_group_id,
    ranked.claim_id,
    CASE WHEN d.deleted_run >= ranked.latest_run THEN 'cancelled' ELSE ranked.status END AS status,
    ranked.last_updated,
    ranked.last_updated_utc,
    ranked.claim_type,
    ranked.service_start,
    ranked.service_end,
    ranked.patient,
    ranked.mbi,
    ranked.historic_mbis,
    ranked.resource_id,
    ranked.run_id,
    ranked.object_key,
    ranked.line,
    ranked.received_utc,
    ranked.records
FROM (
    SELECT
        r.*,
        row_number() OVER (
            PARTITION BY r.source, r.claim_group_id, r.claim_id
            ORDER BY r.last_updated_utc DESC, r.run_id, r.object_key, r.line
        ) AS state_rank,
        min(r.last_updated_utc) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS received_utc,
        count(*) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS records,
        max(r.run_id) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS latest_run
    FROM claim_version_rows AS r
) AS ranked
LEFT JOIN (
    SELECT source, resource_id, max(run_id) AS deleted_run
    FROM deleted_resources
    WHERE resource_type = 'ExplanationOfBenefit'
    GROUP BY source, resource_id
) AS d
    ON d.source = ranked.source AND d.resource_id = ranked.resource_id
WHERE ranked.state_rank = 1
