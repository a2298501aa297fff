-- claim_duplicates: a claim id seen again at the same moment with the same content (e.g. overlapping
-- _since windows, or BCDA's Group/all newcomers): one row per repeated record, with how often and
-- where. The first landed copy is the one claim_versions keeps; `dropped` copies are not counted
-- again. A copy whose content differs is no duplicate but a new state (claim_versions' same_instant).
-- The repeated keys are found first (a plain aggregate DuckDB and Athena keep small), and only
-- their records are gathered into seen_at: gathering every key's places to keep 1% of them took
-- 4.7 GB at 3 million records.
SELECT
    r.source,
    r.claim_group_id,
    r.claim_id,
    min(r.last_updated) AS last_updated,
    min(r.last_updated_utc) AS last_updated_utc,
    count(*) AS copies,
    count(*) - 1 AS dropped,
    array_agg(r.object_key || '#' || CAST(r.line AS varchar) ORDER BY r.run_id, r.object_key, r.line) AS seen_at
FROM claim_version_rows AS r
JOIN (
    SELECT source, claim_group_id, claim_id, updated_us, content_digest
    FROM claim_version_rows
    GROUP BY source, claim_group_id, claim_id, updated_us, content_digest
    HAVING count(*) > 1
) AS k
    ON k.source = r.source
    AND k.claim_group_id = r.claim_group_id
    AND k.claim_id = r.claim_id
    AND k.updated_us = r.updated_us
    AND k.content_digest = r.content_digest
GROUP BY r.source, r.claim_group_id, r.claim_id, r.updated_us, r.content_digest
