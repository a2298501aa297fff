-- claim_duplicates: a claim id seen again at the same moment with the same content (e.g. overlapping
-- _since windows, or BCDA's Group/all newcomers): one row per repeated record, with how often and
-- where. The first landed copy is the one claim_versions keeps; `dropped` copies are not counted
-- again. A copy whose content differs is no duplicate but a new state (claim_versions' same_instant).
-- Cheap at scale: the repeated (content digest, moment) pairs are found first, two numbers a record
-- (the digest covers the claim id, so the pair nearly names the record), and only their records are
-- gathered, by their full key, into seen_at. Gathering every key's places to keep 1% of them took
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
    SELECT content_digest, updated_us
    FROM claim_version_rows
    GROUP BY content_digest, updated_us
    HAVING count(*) > 1
) AS k
    ON k.content_digest = r.content_digest AND k.updated_us = r.updated_us
GROUP BY r.source, r.claim_group_id, r.claim_id, r.updated_us, r.content_digest
HAVING count(*) > 1
