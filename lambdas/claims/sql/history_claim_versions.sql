-- history_claim_versions: (materialized per run as the table claim_versions) every claim version (one claim id of a family) at its latest state, folded from
-- claim_records (records, or the states of an earlier snapshot: the fold gives the same either way).
-- A version's state is its record with the latest moment (updated_us: meta.lastUpdated to the
-- microsecond; without one, the export's transactionTime): a cancellation re-sends an old version
-- with a newer lastUpdated (CMS, AB2D "Claims data details"). Records of one claim id at one moment
-- with equal content (content_digest: the resource without meta) are duplicates: the first landed is
-- kept (claim_duplicates lists them). Records at one moment whose content differs are a new state:
-- a cancelled one wins (CMS only ever cancels a version), else the first landed, and the version is
-- flagged same_instant.
-- received_utc is the earliest moment seen for the claim id: when the version first arrived (the
-- "Received" column of CMS's tables); records is how many records of it landed.
-- A deletion is a cancellation: a SMART server deletes a cancelled claim (deleted_resources) where
-- BFD re-sends it cancelled. A version whose resource (its state record's resource_id) a run
-- deleted at or after the last run that delivered a record of it is cancelled; a record of a
-- later run brings it back (run ids sort by time). The deletion carries no lastUpdated: the other
-- columns stay the state record's, whose own status is record_status.
SELECT
    s.source,
    s.claim_group_id,
    s.claim_id,
    CASE WHEN d.deleted_run >= s.version_latest_run THEN 'cancelled' ELSE s.status END AS status,
    s.last_updated,
    s.last_updated_utc,
    s.updated_us,
    s.updated_from,
    s.content_digest,
    s.claim_type,
    s.service_start,
    s.service_end,
    s.patient,
    s.mbi,
    s.historic_mbis,
    s.resource_id,
    s.run_id,
    s.object_key,
    s.line,
    s.version_received_utc AS received_utc,
    s.version_received_us AS received_us,
    s.version_records AS records,
    s.status AS record_status,
    s.version_latest_run AS latest_run,
    s.version_same_instant AS same_instant
FROM (
    SELECT
        r.*,
        row_number() OVER (
            PARTITION BY r.source, r.claim_group_id, r.claim_id
            ORDER BY r.updated_us DESC, CASE WHEN r.status = 'cancelled' THEN 0 ELSE 1 END, r.run_id, r.object_key, r.line
        ) AS state_rank,
        min(r.received_utc) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS version_received_utc,
        min(r.received_us) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS version_received_us,
        CAST(sum(r.records) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS bigint) AS version_records,
        max(r.latest_run) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id) AS version_latest_run,
        min(r.content_digest) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id, r.updated_us)
        <> max(r.content_digest) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id, r.updated_us)
        OR bool_or(r.same_instant) OVER (PARTITION BY r.source, r.claim_group_id, r.claim_id, r.updated_us)
            AS version_same_instant
    FROM history_claim_records AS r
) AS s
LEFT JOIN (
    SELECT source, resource_id, max(run_id) AS deleted_run
    FROM deleted_resources
    WHERE resource_type = 'ExplanationOfBenefit'
    GROUP BY source, resource_id
) AS d
    ON d.source = s.source AND d.resource_id = s.resource_id
WHERE s.state_rank = 1
