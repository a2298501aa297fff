-- history_claims_current: (materialized per run as the table claims_current) one row per claim family (source, claim_group_id), resolved by CMS's rules: "if
-- the latest version (Claim ID) in a family of claims is cancelled, then the entire claim is
-- cancelled", and "only the latest claim object will have Claim Status = active".
-- The latest version is the one received last (its earliest moment: a cancellation re-stamps an old
-- version, not a new one); on a tie (one export delivered both) an active one, then the one updated
-- last, then the larger claim id (as numbers where both are numeric), then the one landed last.
-- The family's status is its latest version's (claim_versions': a deleted version is cancelled).
-- anomaly: a version other than the latest is still active, which CMS says never happens; flags say
-- what was concluded where CMS is silent:
--   two-active      the latest version is active and an older one too (CMS never re-sent its
--                   cancelled copy): the latest is current, the family active;
--   older-active    the latest version is cancelled while an older one is still active: the family
--                   is cancelled (the latest version decides), the older version superseded;
--   same-instant    a version's records at one lastUpdated differ in content (claim_versions);
--   no-last-updated a version's state has no meta.lastUpdated: ordered by the export's
--                   transactionTime (or the run's start), then the landing order.
-- The MBI is the patient's current MBI by the freshest information, the same on every family of
-- the patient (an MBI can change; a family last exported before the change still carries the old
-- one): its latest Patient record's when that names any MBI, current or historic (BCDA puts MBIs on
-- Patient); else the claim record's received last (claim_mbis); else (no patient reference) the
-- current version's own.
SELECT
    v.source,
    v.claim_group_id,
    v.claim_id,
    CASE WHEN v.status = 'active' THEN 'active' ELSE 'cancelled' END AS status,
    v.last_updated,
    v.last_updated_utc,
    v.versions,
    CASE WHEN p.named THEN p.mbi WHEN e.patient IS NOT NULL THEN e.mbi ELSE v.mbi END AS mbi,
    CASE WHEN p.named THEN p.historic_mbis WHEN e.patient IS NOT NULL THEN e.historic_mbis ELSE v.historic_mbis END
        AS historic_mbis,
    v.patient,
    v.claim_type,
    v.service_start,
    v.service_end,
    v.active_versions > (CASE WHEN v.status = 'active' THEN 1 ELSE 0 END) AS anomaly,
    filter(
        ARRAY[
            CASE WHEN v.status = 'active' AND v.active_versions > 1 THEN 'two-active' END,
            CASE WHEN v.status <> 'active' AND v.active_versions > 0 THEN 'older-active' END,
            CASE WHEN v.same_instant_versions > 0 THEN 'same-instant' END,
            CASE WHEN v.unstamped_versions > 0 THEN 'no-last-updated' END
        ],
        flag -> flag IS NOT NULL
    ) AS flags
FROM (
    SELECT
        cv.source,
        cv.claim_group_id,
        cv.claim_id,
        cv.status,
        cv.last_updated,
        cv.last_updated_utc,
        cv.patient,
        cv.mbi,
        cv.historic_mbis,
        cv.claim_type,
        cv.service_start,
        cv.service_end,
        row_number() OVER (
            PARTITION BY cv.source, cv.claim_group_id
            ORDER BY
                cv.received_us DESC,
                CASE WHEN cv.status = 'active' THEN 0 ELSE 1 END,
                cv.updated_us DESC,
                CASE WHEN regexp_like(cv.claim_id, '^[0-9]{1,38}$') THEN CAST(cv.claim_id AS decimal(38, 0)) END
                    DESC NULLS LAST,
                cv.claim_id DESC,
                cv.run_id DESC,
                cv.object_key DESC,
                cv.line DESC
        ) AS family_rank,
        count(*) OVER (PARTITION BY cv.source, cv.claim_group_id) AS versions,
        sum(CASE WHEN cv.status = 'active' THEN 1 ELSE 0 END) OVER (
            PARTITION BY cv.source, cv.claim_group_id
        ) AS active_versions,
        sum(CASE WHEN cv.same_instant THEN 1 ELSE 0 END) OVER (
            PARTITION BY cv.source, cv.claim_group_id
        ) AS same_instant_versions,
        sum(CASE WHEN cv.updated_from <> 'lastUpdated' THEN 1 ELSE 0 END) OVER (
            PARTITION BY cv.source, cv.claim_group_id
        ) AS unstamped_versions
    FROM history_claim_versions AS cv
) AS v
LEFT JOIN (
    SELECT source, patient_id, mbi, historic_mbis, mbi IS NOT NULL OR cardinality(historic_mbis) > 0 AS named
    FROM history_patients_current
) AS p
    ON p.source = v.source AND p.patient_id = v.patient
LEFT JOIN history_claim_mbis AS e
    ON e.source = v.source AND e.patient = v.patient
WHERE v.family_rank = 1
