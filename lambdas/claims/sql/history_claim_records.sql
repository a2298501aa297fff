-- history_claim_records: every landed claim-version record as a partial state of its version (one record,
-- received at its own moment). claim_versions folds these; a materialized snapshot's rows have the
-- same shape, so the same fold resolves the old snapshot and a run's new records together.
SELECT
    r.source,
    r.claim_group_id,
    r.claim_id,
    r.status,
    r.last_updated,
    r.last_updated_utc,
    r.updated_us,
    r.updated_from,
    r.content_digest,
    r.claim_type,
    r.service_start,
    r.service_end,
    r.patient,
    r.mbi,
    r.historic_mbis,
    r.resource_id,
    r.run_id,
    r.object_key,
    r.line,
    r.last_updated_utc AS received_utc,
    r.updated_us AS received_us,
    CAST(1 AS bigint) AS records,
    r.run_id AS latest_run,
    false AS same_instant
FROM claim_version_rows AS r
