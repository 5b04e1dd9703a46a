-- CAN001, CAN004 and CAN005 (QOF 2023-24 rules, docs/reference-rules.md from #time to #cascades)
-- as ONE DuckDB query: the comparison for benchmarks/bench_national.py. Not used by ccrqof itself.
--
-- Placeholders (filled in by bench_national.py with string.Template):
--   $events    a table expression for the events file(s): read_parquet('...') or
--              read_csv('...', header = true, all_varchar = true)
--   $patients  the same for the registrations (patients) file
--   $codelist  path of the code list CSV (cluster, code, term)
--   $ref       the reference date R, 'YYYY-MM-DD'
--
-- Month arithmetic: DuckDB's `date ± INTERVAL n MONTH` clamps to the end of the month
-- (2024-02-29 - 12 months = 2023-02-28; 2023-11-30 + 3 months = 2024-02-29), which is what
-- docs/reference-rules.md#time asks for; bench_national.py checks this before it runs the query.
--
-- Result: one row per practice with at least one register patient, wide: CAN001_register, ...,
-- CAN004_numerator, ..., CAN004_<FIELD> (patients leaving at each exclusion/PCA rule), ...

WITH
bounds AS (
    SELECT
        DATE '$ref' AS r,
        CAST(DATE '$ref' - INTERVAL 24 MONTH AS DATE) AS r_24m,
        CAST(DATE '$ref' - INTERVAL 15 MONTH AS DATE) AS r_15m,
        CAST(DATE '$ref' - INTERVAL 12 MONTH AS DATE) AS r_12m,
        CAST(DATE '$ref' - INTERVAL 3 MONTH AS DATE) AS r_3m
),
codes AS (
    SELECT DISTINCT trim(cluster) AS cluster, trim(code) AS code
    FROM read_csv('$codelist', header = true, all_varchar = true)
    WHERE trim(cluster) IN ('CAN_COD', 'MDRV_COD', 'CANPCSUPP_COD', 'CANINVITE_COD',
                            'CANPCADEC_COD', 'CANPCAPU_COD')
),
-- Coded entries of the clusters we use, dated on or before R (later entries are ignored).
ev AS (
    SELECT e.practice_code, e.patient_id, c.cluster,
           TRY_CAST(e.date AS DATE) AS d,
           coalesce(lower(e.episode), '') AS episode
    FROM $events AS e
    JOIN codes AS c ON e.code = c.code
    WHERE TRY_CAST(e.date AS DATE) <= (SELECT r FROM bounds)
),
-- CAN_DAT: latest CAN_COD whose episode is not review/ended/changed/evolved/flare-up
-- (docs/reference-rules.md#patient-dates).
can AS (
    SELECT practice_code, patient_id, max(d) AS can_dat
    FROM ev
    WHERE cluster = 'CAN_COD'
      AND episode NOT IN ('review', 'ended', 'changed', 'evolved', 'flare-up')
    GROUP BY practice_code, patient_id
),
-- Specified population at R (docs/reference-rules.md#who-is-counted): a registration started on
-- or before R and not ended on or before R; REG_DAT is the start of the current registration (the
-- latest, if several).
reg AS (
    SELECT practice_code, patient_id, max(start_date) AS reg_dat
    FROM (
        SELECT practice_code, patient_id,
               TRY_CAST(registration_date AS DATE) AS start_date,
               TRY_CAST(nullif(CAST(deregistration_date AS VARCHAR), '') AS DATE) AS end_date
        FROM $patients
    )
    WHERE start_date <= (SELECT r FROM bounds)
      AND (end_date IS NULL OR end_date > (SELECT r FROM bounds))
    GROUP BY practice_code, patient_id
),
-- CAN001 register: registered at R with CAN_DAT on or after 1 April 2003.
register AS (
    SELECT can.practice_code, can.patient_id, can.can_dat, reg.reg_dat
    FROM can JOIN reg USING (practice_code, patient_id)
    WHERE can.can_dat >= DATE '2003-04-01'
),
-- The other patient dates, for register patients only.
dates AS (
    SELECT g.practice_code, g.patient_id, g.can_dat, g.reg_dat,
           min(e.d) FILTER (WHERE e.cluster = 'MDRV_COD' AND e.d >= g.can_dat) AS mdrv_dat,
           min(e.d) FILTER (WHERE e.cluster = 'CANPCSUPP_COD' AND e.d >= g.can_dat) AS supp_dat,
           max(e.d) FILTER (WHERE e.cluster = 'CANPCAPU_COD' AND e.d > b.r_12m) AS pcapu_dat,
           max(e.d) FILTER (WHERE e.cluster = 'CANPCADEC_COD' AND e.d > b.r_12m) AS pcadec_dat,
           count(*) FILTER (WHERE e.cluster = 'CANINVITE_COD' AND e.d > b.r_12m) AS invites,
           max(e.d) FILTER (WHERE e.cluster = 'CANINVITE_COD' AND e.d > b.r_12m)
             - min(e.d) FILTER (WHERE e.cluster = 'CANINVITE_COD' AND e.d > b.r_12m)
             AS invite_span
    FROM register AS g
    CROSS JOIN bounds AS b
    LEFT JOIN ev AS e USING (practice_code, patient_id)
    GROUP BY g.practice_code, g.patient_id, g.can_dat, g.reg_dat
),
-- The cascades (docs/reference-rules.md#cascades), one CASE per indicator in rule order; the
-- value is where the patient leaves: 'numerator', 'denominator', or the exclusion/PCA field.
-- 2023-24 has no CAN004 R4.
outcomes AS (
    SELECT d.practice_code,
        CASE
            WHEN d.can_dat <= b.r_24m THEN 'CAN_DAT24M'                            -- R1 excl
            WHEN d.mdrv_dat <= b.r_12m THEN 'MDRV_DAT'                             -- R2 excl
            WHEN d.mdrv_dat <= CAST(d.can_dat + INTERVAL 12 MONTH AS DATE)
                THEN 'numerator'                                                   -- R3
            WHEN d.can_dat > b.r_12m THEN 'DIAGCRV12M'                             -- R5 excl
            WHEN d.pcapu_dat > b.r_12m THEN 'CANPCAPU'                             -- R6 PCA
            WHEN d.pcadec_dat > b.r_12m THEN 'CANPCADEC'                           -- R7 PCA
            WHEN d.invites >= 2 AND d.invite_span >= 7 THEN 'CANINVITE'            -- R8 PCA
            WHEN d.can_dat > b.r_3m THEN 'DIAG1_DAT'                               -- R9 PCA
            WHEN d.reg_dat > b.r_3m THEN 'REG1_DAT3'                               -- R10 PCA
            ELSE 'denominator'                                                     -- R11
        END AS can004,
        CASE
            WHEN d.can_dat <= b.r_15m THEN 'CANDAT15M'                             -- R1 excl
            WHEN d.supp_dat <= b.r_12m THEN 'CANSUP12M'                            -- R2 excl
            WHEN d.supp_dat <= CAST(d.can_dat + INTERVAL 3 MONTH AS DATE)
                THEN 'numerator'                                                   -- R3
            WHEN d.can_dat > b.r_3m THEN 'DIAGCSUP3M'                              -- R4 excl
            WHEN d.pcapu_dat > b.r_12m THEN 'CANPCAPU'                             -- R5 PCA
            WHEN d.pcadec_dat > b.r_12m THEN 'CANPCADEC'                           -- R6 PCA
            WHEN d.invites >= 2 AND d.invite_span >= 7 THEN 'CANINVITE'            -- R7 PCA
            WHEN d.can_dat > b.r_3m THEN 'DIAG1_DAT'                               -- R8 PCA
            WHEN d.reg_dat > b.r_3m THEN 'REG1_DAT3'                               -- R9 PCA
            ELSE 'denominator'                                                     -- R10
        END AS can005
    FROM dates AS d CROSS JOIN bounds AS b
)
SELECT
    practice_code,
    count(*) AS CAN001_register,
    count(*) AS CAN001_denominator,
    count(*) AS CAN001_numerator,
    0 AS CAN001_pcas,
    0 AS CAN001_exclusions,
    count(*) AS CAN004_register,
    count(*) FILTER (WHERE can004 IN ('numerator', 'denominator')) AS CAN004_denominator,
    count(*) FILTER (WHERE can004 = 'numerator') AS CAN004_numerator,
    count(*) FILTER (WHERE can004 IN ('CANPCAPU', 'CANPCADEC', 'CANINVITE', 'DIAG1_DAT',
                                      'REG1_DAT3')) AS CAN004_pcas,
    count(*) FILTER (WHERE can004 IN ('CAN_DAT24M', 'MDRV_DAT', 'DIAGCRV12M')) AS CAN004_exclusions,
    count(*) FILTER (WHERE can004 = 'CAN_DAT24M') AS CAN004_CAN_DAT24M,
    count(*) FILTER (WHERE can004 = 'MDRV_DAT') AS CAN004_MDRV_DAT,
    count(*) FILTER (WHERE can004 = 'DIAGCRV12M') AS CAN004_DIAGCRV12M,
    count(*) FILTER (WHERE can004 = 'CANPCAPU') AS CAN004_CANPCAPU,
    count(*) FILTER (WHERE can004 = 'CANPCADEC') AS CAN004_CANPCADEC,
    count(*) FILTER (WHERE can004 = 'CANINVITE') AS CAN004_CANINVITE,
    count(*) FILTER (WHERE can004 = 'DIAG1_DAT') AS CAN004_DIAG1_DAT,
    count(*) FILTER (WHERE can004 = 'REG1_DAT3') AS CAN004_REG1_DAT3,
    count(*) AS CAN005_register,
    count(*) FILTER (WHERE can005 IN ('numerator', 'denominator')) AS CAN005_denominator,
    count(*) FILTER (WHERE can005 = 'numerator') AS CAN005_numerator,
    count(*) FILTER (WHERE can005 IN ('CANPCAPU', 'CANPCADEC', 'CANINVITE', 'DIAG1_DAT',
                                      'REG1_DAT3')) AS CAN005_pcas,
    count(*) FILTER (WHERE can005 IN ('CANDAT15M', 'CANSUP12M', 'DIAGCSUP3M')) AS CAN005_exclusions,
    count(*) FILTER (WHERE can005 = 'CANDAT15M') AS CAN005_CANDAT15M,
    count(*) FILTER (WHERE can005 = 'CANSUP12M') AS CAN005_CANSUP12M,
    count(*) FILTER (WHERE can005 = 'DIAGCSUP3M') AS CAN005_DIAGCSUP3M,
    count(*) FILTER (WHERE can005 = 'CANPCAPU') AS CAN005_CANPCAPU,
    count(*) FILTER (WHERE can005 = 'CANPCADEC') AS CAN005_CANPCADEC,
    count(*) FILTER (WHERE can005 = 'CANINVITE') AS CAN005_CANINVITE,
    count(*) FILTER (WHERE can005 = 'DIAG1_DAT') AS CAN005_DIAG1_DAT,
    count(*) FILTER (WHERE can005 = 'REG1_DAT3') AS CAN005_REG1_DAT3
FROM outcomes
GROUP BY practice_code
ORDER BY practice_code
