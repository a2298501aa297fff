-- claim_duplicates: a claim id seen again with the same last_updated (e.g. overlapping _since
-- windows, or BCDA's Group/all newcomers): one row per repeated record, with how often and where.
-- The first landed copy is the one claim_versions keeps; `dropped` copies are not counted again.
SELECT
    source,
    claim_group_id,
    claim_id,
    min(last_updated) AS last_updated,
    last_updated_utc,
    count(*) AS copies,
    count(*) - 1 AS dropped,
    array_agg(object_key || '#' || CAST(line AS varchar) ORDER BY run_id, object_key, line) AS seen_at
FROM claim_version_rows
GROUP BY source, claim_group_id, claim_id, last_updated_utc
HAVING count(*) > 1
