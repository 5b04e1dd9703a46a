-- ccrqof sql --dialect tsql --year 2021-22 --level practices
WITH members AS (
  SELECT DISTINCT
    UPPER(TRIM(COALESCE(cluster, ''))) AS cluster,
    TRIM(COALESCE(code, '')) AS code
  FROM codelist
  WHERE
    UPPER(TRIM(COALESCE(cluster, ''))) IN (
      'CANINVITE_COD',
      'CANPCADEC_COD',
      'CANPCAPU_COD',
      'CANPCSUPP_COD',
      'CAN_COD',
      'MDRV_COD'
    )
), source_rows AS (
  SELECT
    UPPER(TRIM(COALESCE(practice_code, ''))) AS practice_key,
    TRIM(COALESCE(patient_id, '')) AS patient_id,
    TRIM(COALESCE(code, '')) AS code,
    '' AS cluster,
    CAST(date AS DATE) AS entry_day,
    LOWER(TRIM(COALESCE(episode, ''))) AS episode
  FROM events
), classified AS (
  SELECT
    *,
    CASE WHEN code <> '' OR cluster <> '' THEN 1 ELSE 0 END AS is_entry,
    CASE
      WHEN (
        cluster <> '' AND NOT (
          code <> ''
        )
      )
      AND cluster IN (
        'CANINVITE_COD',
        'CANPCADEC_COD',
        'CANPCAPU_COD',
        'CANPCSUPP_COD',
        'CAN_COD',
        'MDRV_COD'
      )
      THEN 1
      ELSE 0
    END AS by_row,
    CASE
      WHEN code <> '' AND code IN (
        SELECT
          code
        FROM members
      )
      THEN 1
      ELSE 0
    END AS listed,
    CASE
      WHEN (
        code <> '' AND code IN (
          SELECT
            code
          FROM members
        )
      )
      OR (
        (
          cluster <> '' AND NOT (
            code <> ''
          )
        )
        AND cluster IN (
          'CANINVITE_COD',
          'CANPCADEC_COD',
          'CANPCAPU_COD',
          'CANPCSUPP_COD',
          'CAN_COD',
          'MDRV_COD'
        )
      )
      THEN 1
      ELSE 0
    END AS of_interest
  FROM source_rows
), keyed AS (
  SELECT
    *
  FROM classified
  WHERE
    of_interest = 1
), deduped AS (
  SELECT
    practice_key AS practice_key,
    patient_id AS patient_id,
    code AS code,
    cluster AS cluster,
    entry_day AS entry_day,
    episode AS episode,
    by_row AS by_row,
    listed AS listed,
    of_interest AS of_interest,
    COUNT(*) AS copies
  FROM keyed
  GROUP BY
    practice_key,
    patient_id,
    code,
    cluster,
    entry_day,
    episode,
    by_row,
    listed,
    of_interest
), registrations AS (
  SELECT
    UPPER(TRIM(COALESCE(practice_code, ''))) AS practice_key,
    TRIM(COALESCE(patient_id, '')) AS patient_id,
    CAST(registration_date AS DATE) AS registration_date,
    CAST(deregistration_date AS DATE) AS deregistration_date,
    CAST(date_of_birth AS DATE) AS date_of_birth,
    LOWER(TRIM(COALESCE(sex, ''))) AS sex
  FROM patients
), units AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      ORDER BY CASE WHEN practice_key IS NULL THEN 1 ELSE 0 END, practice_key, CASE WHEN patient_id IS NULL THEN 1 ELSE 0 END, patient_id
    ) AS unit
  FROM (
    SELECT
      practice_key AS practice_key,
      patient_id AS patient_id,
      1 AS from_events
    FROM (
      SELECT DISTINCT
        practice_key AS practice_key,
        patient_id AS patient_id
      FROM deduped
    ) AS e
  ) AS n
), unit_regs AS (
  SELECT
    u.unit AS unit,
    u.practice_key AS practice_key,
    u.patient_id AS patient_id,
    r.registration_date AS registration_date,
    r.deregistration_date AS deregistration_date,
    r.date_of_birth AS date_of_birth,
    r.sex AS sex
  FROM units AS u
  JOIN registrations AS r
    ON u.practice_key = r.practice_key AND u.patient_id = r.patient_id
), kept AS (
  SELECT
    unit AS unit,
    practice_key AS practice_key,
    patient_id AS patient_id,
    MAX(date_of_birth) AS date_of_birth,
    MAX(NULLIF(sex, '')) AS sex
  FROM unit_regs
  GROUP BY
    unit,
    practice_key,
    patient_id
), entries AS (
  SELECT
    k.unit AS unit,
    k.practice_key AS practice_key,
    k.patient_id AS patient_id,
    x.entry_cluster AS entry_cluster,
    x.entry_day AS entry_day,
    x.code AS code,
    x.episode AS episode
  FROM (
    SELECT
      d.practice_key,
      d.patient_id,
      d.code,
      d.cluster,
      d.entry_day,
      d.episode,
      d.cluster AS entry_cluster
    FROM deduped AS d
    WHERE
      d.by_row = 1
    UNION ALL
    SELECT
      d.practice_key,
      d.patient_id,
      d.code,
      d.cluster,
      d.entry_day,
      d.episode,
      m.cluster AS entry_cluster
    FROM deduped AS d
    JOIN members AS m
      ON d.code = m.code
    WHERE
      d.listed = 1
  ) AS x
  JOIN kept AS k
    ON x.practice_key = k.practice_key AND x.patient_id = k.patient_id
), visible AS (
  SELECT
    *
  FROM entries
  WHERE
    entry_day <= CAST('2022-03-31' AS DATE)
), reg_dat AS (
  SELECT
    unit AS unit,
    MAX(registration_date) AS d
  FROM unit_regs
  WHERE
    registration_date <= CAST('2022-03-31' AS DATE)
    AND (
      deregistration_date IS NULL OR deregistration_date > CAST('2022-03-31' AS DATE)
    )
  GROUP BY
    unit
), q2_date AS (
  SELECT
    unit AS unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CAN_COD'
    AND NOT episode IN ('review', 'ended', 'changed', 'evolved', 'flare-up')
  GROUP BY
    unit
), population_can001 AS (
  SELECT
    k.unit AS unit
  FROM kept AS k
  JOIN reg_dat AS r
    ON k.unit = r.unit
), facts_can001 AS (
  SELECT
    p.unit AS unit,
    t_d_reg_dat.d AS d_reg_dat,
    t_d_can_dat.d AS d_can_dat
  FROM population_can001 AS p
  LEFT JOIN reg_dat AS t_d_reg_dat
    ON p.unit = t_d_reg_dat.unit
  LEFT JOIN q2_date AS t_d_can_dat
    ON p.unit = t_d_can_dat.unit
), decided_can001 AS (
  SELECT
    *,
    CASE
      WHEN d_can_dat >= /* CAN001 R1 select_register: Registered at the reference date with a cancer diagnosis on or after 1 April 2003 */ CAST('2003-04-01' AS DATE)
      THEN 0
      ELSE NULL
    END AS rule_index
  FROM facts_can001
), selected_can001 AS (
  SELECT
    unit AS unit
  FROM decided_can001
  WHERE
    rule_index IN (0)
), q7_date AS (
  SELECT
    v.unit AS unit,
    MIN(v.entry_day) AS d
  FROM visible AS v
  JOIN q2_date AS a
    ON v.unit = a.unit AND v.entry_day >= a.d
  WHERE
    v.entry_cluster = 'MDRV_COD'
  GROUP BY
    v.unit
), q8_date AS (
  SELECT
    unit AS unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CANPCAPU_COD'
  GROUP BY
    unit
), q9_date AS (
  SELECT
    unit AS unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CANPCADEC_COD'
  GROUP BY
    unit
), q10_count AS (
  SELECT
    unit AS unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CANINVITE_COD'
    AND entry_day > CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
  GROUP BY
    unit
), population_can004 AS (
  SELECT
    unit AS unit
  FROM selected_can001
), facts_can004 AS (
  SELECT
    p.unit AS unit,
    t_d_reg_dat.d AS d_reg_dat,
    t_d_can_dat.d AS d_can_dat,
    t_d_mdrv_dat.d AS d_mdrv_dat,
    t_d_pcapu_dat.d AS d_pcapu_dat,
    t_d_pcadec_dat.d AS d_pcadec_dat,
    q10_count.n AS q10_count_n,
    q10_count.first_day AS q10_count_first,
    q10_count.last_day AS q10_count_last
  FROM population_can004 AS p
  LEFT JOIN reg_dat AS t_d_reg_dat
    ON p.unit = t_d_reg_dat.unit
  LEFT JOIN q2_date AS t_d_can_dat
    ON p.unit = t_d_can_dat.unit
  LEFT JOIN q7_date AS t_d_mdrv_dat
    ON p.unit = t_d_mdrv_dat.unit
  LEFT JOIN q8_date AS t_d_pcapu_dat
    ON p.unit = t_d_pcapu_dat.unit
  LEFT JOIN q9_date AS t_d_pcadec_dat
    ON p.unit = t_d_pcadec_dat.unit
  LEFT JOIN q10_count
    ON p.unit = q10_count.unit
), decided_can004 AS (
  SELECT
    *,
    CASE
      WHEN d_can_dat <= /* CAN004 R1 reject_exclusion CAN_DAT24M: Diagnosed more than 24 months before the reference date */ CAST(DATEADD(MONTH, -24, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 0
      WHEN d_mdrv_dat <= /* CAN004 R2 reject_exclusion MDRV_DAT: Cancer care review recorded more than 12 months before the reference date (credited in an earlier year) */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 1
      WHEN d_mdrv_dat <= /* CAN004 R3 select_numerator: Cancer care review within 12 months of diagnosis */ CAST(DATEADD(MONTH, 12, d_can_dat) AS DATE)
      THEN 2
      WHEN d_can_dat < /* CAN004 R4 reject_exclusion CAN_DAT1J: Diagnosed before 1 January 2021 and not reviewed within 12 months (CAN004's first years only) */ CAST('2021-01-01' AS DATE)
      THEN 3
      WHEN d_can_dat > /* CAN004 R5 reject_exclusion DIAGCRV12M: Diagnosed in the 12 months up to the reference date and not yet reviewed */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 4
      WHEN d_pcapu_dat > /* CAN004 R6 reject_pca CANPCAPU: Cancer quality indicator care unsuitable, recorded in the 12 months up to the reference date */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 5
      WHEN d_pcadec_dat > /* CAN004 R7 reject_pca CANPCADEC: Patient chose not to receive cancer quality indicator care, recorded in the 12 months up to the reference date */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 6
      WHEN COALESCE(q10_count_n, 0) >= 2
      AND /* CAN004 R8 reject_pca CANINVITE: At least two invitations for a cancer care review, at least 7 days apart, in the 12 months up to the reference date */ DATEDIFF(DAY, q10_count_first, q10_count_last) >= 7
      THEN 7
      WHEN d_can_dat > /* CAN004 R9 reject_pca DIAG1_DAT: Diagnosed in the 3 months up to the reference date */ CAST(DATEADD(MONTH, -3, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 8
      WHEN d_reg_dat > /* CAN004 R10 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(DATEADD(MONTH, -3, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 9
      WHEN 1 = /* CAN004 R11 select_denominator: Everyone left is in the denominator without a timely review */ 1
      THEN 10
      ELSE NULL
    END AS rule_index
  FROM facts_can004
), selected_can004 AS (
  SELECT
    unit AS unit
  FROM decided_can004
  WHERE
    rule_index IN (2, 10)
), q15_date AS (
  SELECT
    v.unit AS unit,
    MIN(v.entry_day) AS d
  FROM visible AS v
  JOIN q2_date AS a
    ON v.unit = a.unit AND v.entry_day >= a.d
  WHERE
    v.entry_cluster = 'CANPCSUPP_COD'
  GROUP BY
    v.unit
), population_can005 AS (
  SELECT
    unit AS unit
  FROM selected_can001
), facts_can005 AS (
  SELECT
    p.unit AS unit,
    t_d_reg_dat.d AS d_reg_dat,
    t_d_can_dat.d AS d_can_dat,
    t_d_supp_dat.d AS d_supp_dat,
    t_d_pcapu_dat.d AS d_pcapu_dat,
    t_d_pcadec_dat.d AS d_pcadec_dat,
    q10_count.n AS q10_count_n,
    q10_count.first_day AS q10_count_first,
    q10_count.last_day AS q10_count_last
  FROM population_can005 AS p
  LEFT JOIN reg_dat AS t_d_reg_dat
    ON p.unit = t_d_reg_dat.unit
  LEFT JOIN q2_date AS t_d_can_dat
    ON p.unit = t_d_can_dat.unit
  LEFT JOIN q15_date AS t_d_supp_dat
    ON p.unit = t_d_supp_dat.unit
  LEFT JOIN q8_date AS t_d_pcapu_dat
    ON p.unit = t_d_pcapu_dat.unit
  LEFT JOIN q9_date AS t_d_pcadec_dat
    ON p.unit = t_d_pcadec_dat.unit
  LEFT JOIN q10_count
    ON p.unit = q10_count.unit
), decided_can005 AS (
  SELECT
    *,
    CASE
      WHEN d_can_dat <= /* CAN005 R1 reject_exclusion CAN_DAT15M: Diagnosed more than 15 months before the reference date */ CAST(DATEADD(MONTH, -15, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 0
      WHEN d_supp_dat <= /* CAN005 R2 reject_exclusion CANSUP12M: Support information given more than 12 months before the reference date (credited in an earlier year) */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 1
      WHEN d_supp_dat <= /* CAN005 R3 select_numerator: Support discussion within 3 months of diagnosis */ CAST(DATEADD(MONTH, 3, d_can_dat) AS DATE)
      THEN 2
      WHEN d_can_dat > /* CAN005 R4 reject_exclusion DIAGCSUP3M: Diagnosed in the 3 months up to the reference date and support not yet offered */ CAST(DATEADD(MONTH, -3, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 3
      WHEN d_pcapu_dat > /* CAN005 R5 reject_pca CANPCAPU: Cancer quality indicator care unsuitable, recorded in the 12 months up to the reference date */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 4
      WHEN d_pcadec_dat > /* CAN005 R6 reject_pca CANPCADEC: Patient chose not to receive cancer quality indicator care, recorded in the 12 months up to the reference date */ CAST(DATEADD(MONTH, -12, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 5
      WHEN COALESCE(q10_count_n, 0) >= 2
      AND /* CAN005 R7 reject_pca CANINVITE: At least two invitations for a cancer care review, at least 7 days apart, in the 12 months up to the reference date */ DATEDIFF(DAY, q10_count_first, q10_count_last) >= 7
      THEN 6
      WHEN d_can_dat > /* CAN005 R8 reject_pca DIAG1_DAT: Diagnosed in the 3 months up to the reference date */ CAST(DATEADD(MONTH, -3, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 7
      WHEN d_reg_dat > /* CAN005 R9 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(DATEADD(MONTH, -3, CAST('2022-03-31' AS DATE)) AS DATE)
      THEN 8
      WHEN 1 = /* CAN005 R10 select_denominator: Everyone left is in the denominator without a timely support discussion */ 1
      THEN 9
      ELSE NULL
    END AS rule_index
  FROM facts_can005
), selected_can005 AS (
  SELECT
    unit AS unit
  FROM decided_can005
  WHERE
    rule_index IN (2, 9)
), outcome_rows AS (
  SELECT
    NULLIF(k.practice_key, '') AS practice_code,
    k.patient_id,
    'CAN001' AS indicator,
    CASE WHEN rule_index = 0 THEN 'numerator' ELSE NULL END AS outcome,
    CASE WHEN rule_index = 0 THEN 'R1' ELSE NULL END AS rule_id,
    CASE WHEN rule_index = 0 THEN NULL ELSE NULL END AS field_name,
    d_can_dat AS d_can_dat,
    CAST(NULL AS DATE) AS d_mdrv_dat,
    CAST(NULL AS DATE) AS d_supp_dat,
    CAST(NULL AS DATE) AS d_reg_dat,
    CAST(NULL AS DATE) AS due_by,
    CAST(NULL AS DATE) AS deadline
  FROM decided_can001 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
  UNION ALL
  SELECT
    NULLIF(k.practice_key, '') AS practice_code,
    k.patient_id,
    'CAN004' AS indicator,
    CASE
      WHEN rule_index = 0
      THEN 'exclusion'
      WHEN rule_index = 1
      THEN 'exclusion'
      WHEN rule_index = 2
      THEN 'numerator'
      WHEN rule_index = 3
      THEN 'exclusion'
      WHEN rule_index = 4
      THEN 'exclusion'
      WHEN rule_index = 5
      THEN 'pca'
      WHEN rule_index = 6
      THEN 'pca'
      WHEN rule_index = 7
      THEN 'pca'
      WHEN rule_index = 8
      THEN 'pca'
      WHEN rule_index = 9
      THEN 'pca'
      WHEN rule_index = 10
      THEN 'denominator'
      ELSE NULL
    END AS outcome,
    CASE
      WHEN rule_index = 0
      THEN 'R1'
      WHEN rule_index = 1
      THEN 'R2'
      WHEN rule_index = 2
      THEN 'R3'
      WHEN rule_index = 3
      THEN 'R4'
      WHEN rule_index = 4
      THEN 'R5'
      WHEN rule_index = 5
      THEN 'R6'
      WHEN rule_index = 6
      THEN 'R7'
      WHEN rule_index = 7
      THEN 'R8'
      WHEN rule_index = 8
      THEN 'R9'
      WHEN rule_index = 9
      THEN 'R10'
      WHEN rule_index = 10
      THEN 'R11'
      ELSE NULL
    END AS rule_id,
    CASE
      WHEN rule_index = 0
      THEN 'CAN_DAT24M'
      WHEN rule_index = 1
      THEN 'MDRV_DAT'
      WHEN rule_index = 2
      THEN NULL
      WHEN rule_index = 3
      THEN 'CAN_DAT1J'
      WHEN rule_index = 4
      THEN 'DIAGCRV12M'
      WHEN rule_index = 5
      THEN 'CANPCAPU'
      WHEN rule_index = 6
      THEN 'CANPCADEC'
      WHEN rule_index = 7
      THEN 'CANINVITE'
      WHEN rule_index = 8
      THEN 'DIAG1_DAT'
      WHEN rule_index = 9
      THEN 'REG1_DAT3'
      WHEN rule_index = 10
      THEN NULL
      ELSE NULL
    END AS field_name,
    d_can_dat AS d_can_dat,
    d_mdrv_dat AS d_mdrv_dat,
    CAST(NULL AS DATE) AS d_supp_dat,
    d_reg_dat AS d_reg_dat,
    CASE
      WHEN d_mdrv_dat IS NULL
      AND CASE
        WHEN rule_index = 0
        THEN 'exclusion'
        WHEN rule_index = 1
        THEN 'exclusion'
        WHEN rule_index = 2
        THEN 'numerator'
        WHEN rule_index = 3
        THEN 'exclusion'
        WHEN rule_index = 4
        THEN 'exclusion'
        WHEN rule_index = 5
        THEN 'pca'
        WHEN rule_index = 6
        THEN 'pca'
        WHEN rule_index = 7
        THEN 'pca'
        WHEN rule_index = 8
        THEN 'pca'
        WHEN rule_index = 9
        THEN 'pca'
        WHEN rule_index = 10
        THEN 'denominator'
        ELSE NULL
      END <> 'numerator'
      AND CAST(DATEADD(MONTH, 12, d_can_dat) AS DATE) >= CAST('2022-03-31' AS DATE)
      THEN CAST(DATEADD(MONTH, 12, d_can_dat) AS DATE)
      ELSE NULL
    END AS due_by,
    CAST(DATEADD(MONTH, 12, d_can_dat) AS DATE) AS deadline
  FROM decided_can004 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
  UNION ALL
  SELECT
    NULLIF(k.practice_key, '') AS practice_code,
    k.patient_id,
    'CAN005' AS indicator,
    CASE
      WHEN rule_index = 0
      THEN 'exclusion'
      WHEN rule_index = 1
      THEN 'exclusion'
      WHEN rule_index = 2
      THEN 'numerator'
      WHEN rule_index = 3
      THEN 'exclusion'
      WHEN rule_index = 4
      THEN 'pca'
      WHEN rule_index = 5
      THEN 'pca'
      WHEN rule_index = 6
      THEN 'pca'
      WHEN rule_index = 7
      THEN 'pca'
      WHEN rule_index = 8
      THEN 'pca'
      WHEN rule_index = 9
      THEN 'denominator'
      ELSE NULL
    END AS outcome,
    CASE
      WHEN rule_index = 0
      THEN 'R1'
      WHEN rule_index = 1
      THEN 'R2'
      WHEN rule_index = 2
      THEN 'R3'
      WHEN rule_index = 3
      THEN 'R4'
      WHEN rule_index = 4
      THEN 'R5'
      WHEN rule_index = 5
      THEN 'R6'
      WHEN rule_index = 6
      THEN 'R7'
      WHEN rule_index = 7
      THEN 'R8'
      WHEN rule_index = 8
      THEN 'R9'
      WHEN rule_index = 9
      THEN 'R10'
      ELSE NULL
    END AS rule_id,
    CASE
      WHEN rule_index = 0
      THEN 'CAN_DAT15M'
      WHEN rule_index = 1
      THEN 'CANSUP12M'
      WHEN rule_index = 2
      THEN NULL
      WHEN rule_index = 3
      THEN 'DIAGCSUP3M'
      WHEN rule_index = 4
      THEN 'CANPCAPU'
      WHEN rule_index = 5
      THEN 'CANPCADEC'
      WHEN rule_index = 6
      THEN 'CANINVITE'
      WHEN rule_index = 7
      THEN 'DIAG1_DAT'
      WHEN rule_index = 8
      THEN 'REG1_DAT3'
      WHEN rule_index = 9
      THEN NULL
      ELSE NULL
    END AS field_name,
    d_can_dat AS d_can_dat,
    CAST(NULL AS DATE) AS d_mdrv_dat,
    d_supp_dat AS d_supp_dat,
    d_reg_dat AS d_reg_dat,
    CASE
      WHEN d_supp_dat IS NULL
      AND CASE
        WHEN rule_index = 0
        THEN 'exclusion'
        WHEN rule_index = 1
        THEN 'exclusion'
        WHEN rule_index = 2
        THEN 'numerator'
        WHEN rule_index = 3
        THEN 'exclusion'
        WHEN rule_index = 4
        THEN 'pca'
        WHEN rule_index = 5
        THEN 'pca'
        WHEN rule_index = 6
        THEN 'pca'
        WHEN rule_index = 7
        THEN 'pca'
        WHEN rule_index = 8
        THEN 'pca'
        WHEN rule_index = 9
        THEN 'denominator'
        ELSE NULL
      END <> 'numerator'
      AND CAST(DATEADD(MONTH, 3, d_can_dat) AS DATE) >= CAST('2022-03-31' AS DATE)
      THEN CAST(DATEADD(MONTH, 3, d_can_dat) AS DATE)
      ELSE NULL
    END AS due_by,
    CAST(DATEADD(MONTH, 3, d_can_dat) AS DATE) AS deadline
  FROM decided_can005 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
)
SELECT
  c.practice_code,
  c.indicator,
  CAST('2022-03-31' AS DATE) AS reference_date,
  COALESCE(r.numerator, 0) AS register,
  c.numerator + c.denominator_only AS denominator,
  c.numerator,
  c.pcas,
  c.exclusions
FROM (
  SELECT
    practice_code AS practice_code,
    indicator AS indicator,
    CAST(SUM(CASE WHEN outcome = 'numerator' THEN 1 ELSE 0 END) AS BIGINT) AS numerator,
    CAST(SUM(CASE WHEN outcome = 'denominator' THEN 1 ELSE 0 END) AS BIGINT) AS denominator_only,
    CAST(SUM(CASE WHEN outcome = 'pca' THEN 1 ELSE 0 END) AS BIGINT) AS pcas,
    CAST(SUM(CASE WHEN outcome = 'exclusion' THEN 1 ELSE 0 END) AS BIGINT) AS exclusions
  FROM outcome_rows
  GROUP BY
    practice_code,
    indicator
) AS c
LEFT JOIN (
  SELECT
    practice_code AS practice_code,
    indicator AS indicator,
    CAST(SUM(CASE WHEN outcome = 'numerator' THEN 1 ELSE 0 END) AS BIGINT) AS numerator,
    CAST(SUM(CASE WHEN outcome = 'denominator' THEN 1 ELSE 0 END) AS BIGINT) AS denominator_only,
    CAST(SUM(CASE WHEN outcome = 'pca' THEN 1 ELSE 0 END) AS BIGINT) AS pcas,
    CAST(SUM(CASE WHEN outcome = 'exclusion' THEN 1 ELSE 0 END) AS BIGINT) AS exclusions
  FROM outcome_rows
  GROUP BY
    practice_code,
    indicator
) AS r
  ON r.practice_code = c.practice_code
  AND r.indicator = CASE
    WHEN c.indicator = 'CAN001'
    THEN 'CAN001'
    WHEN c.indicator = 'CAN004'
    THEN 'CAN001'
    WHEN c.indicator = 'CAN005'
    THEN 'CAN001'
    ELSE NULL
  END
ORDER BY
  c.practice_code,
  c.indicator;
