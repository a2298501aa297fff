-- claims_current: one row per claim family (source, claim_group_id), resolved by CMS's rules:
-- the family's current version is its active version; with none active the family is cancelled
-- and its current version is the one updated last; two or more active versions are an anomaly:
-- the one updated last is kept and the family flagged. "Updated last" ties (a cancellation and
-- its successor share one lastUpdated) go to the version received last, then the larger claim id.
-- A version's status is claim_versions': a deleted version is cancelled there. The MBI is the
-- EOB's own (AB2D) or else the patient's current MBI (BCDA, through eob.patient).
SELECT
    v.source,
    v.claim_group_id,
    v.claim_id,
    CASE WHEN v.active_versions > 0 THEN 'active' ELSE 'cancelled' END AS status,
    v.last_updated,
    v.last_updated_utc,
    v.versions,
    coalesce(v.mbi, p.mbi) AS mbi,
    CASE WHEN v.mbi IS NULL AND p.mbi IS NOT NULL THEN p.historic_mbis ELSE v.historic_mbis END AS historic_mbis,
    v.patient,
    v.claim_type,
    v.service_start,
    v.service_end,
    v.active_versions > 1 AS anomaly
FROM (
    SELECT
        cv.*,
        row_number() OVER (
            PARTITION BY cv.source, cv.claim_group_id
            ORDER BY
                CASE WHEN cv.status = 'active' THEN 0 ELSE 1 END,
                cv.last_updated_utc DESC,
                cv.received_utc DESC,
                cv.claim_id DESC
        ) AS family_rank,
        count(*) OVER (PARTITION BY cv.source, cv.claim_group_id) AS versions,
        sum(CASE WHEN cv.status = 'active' THEN 1 ELSE 0 END) OVER (
            PARTITION BY cv.source, cv.claim_group_id
        ) AS active_versions
    FROM claim_versions AS cv
) AS v
LEFT JOIN patients_current AS p
    ON p.source = v.source AND p.patient_id = v.patient
WHERE v.family_rank = 1
