-- ccrqof sql --dialect duckdb --year 2023-24 --level patients
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
      'CSDEC_COD',
      'CSPCAINVITE_COD',
      'CSPU_COD',
      'MDRV_COD',
      'NOCX_COD',
      'PREG_COD',
      'SMEAR_COD'
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
        'CSDEC_COD',
        'CSPCAINVITE_COD',
        'CSPU_COD',
        'MDRV_COD',
        'NOCX_COD',
        'PREG_COD',
        'SMEAR_COD'
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
          'CSDEC_COD',
          'CSPCAINVITE_COD',
          'CSPU_COD',
          'MDRV_COD',
          'NOCX_COD',
          'PREG_COD',
          'SMEAR_COD'
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
), deduped AS (
  SELECT
    practice_key,
    patient_id,
    code,
    cluster,
    entry_day,
    episode,
    by_row,
    listed,
    of_interest,
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
    ROW_NUMBER() OVER (ORDER BY practice_key, patient_id) AS unit
  FROM (
    SELECT
      practice_key,
      patient_id,
      1 AS from_events
    FROM (
      SELECT DISTINCT
        practice_key,
        patient_id
      FROM deduped
    ) AS e
    UNION ALL
    SELECT
      m.practice_key,
      m.patient_id,
      0 AS from_events
    FROM (
      SELECT DISTINCT
        practice_key,
        patient_id
      FROM registrations
    ) AS m
    LEFT JOIN (
      SELECT DISTINCT
        practice_key,
        patient_id
      FROM deduped
    ) AS e
      ON m.practice_key = e.practice_key AND m.patient_id = e.patient_id
    WHERE
      e.patient_id IS NULL
  ) AS n
), unit_regs AS (
  SELECT
    u.unit,
    u.practice_key,
    u.patient_id,
    r.registration_date,
    r.deregistration_date,
    r.date_of_birth,
    r.sex
  FROM units AS u
  JOIN registrations AS r
    ON u.practice_key = r.practice_key AND u.patient_id = r.patient_id
), kept AS (
  SELECT
    unit,
    practice_key,
    patient_id,
    MAX(date_of_birth) AS date_of_birth,
    MAX(NULLIF(sex, '')) AS sex
  FROM unit_regs
  GROUP BY
    unit,
    practice_key,
    patient_id
), entries AS (
  SELECT
    k.unit,
    k.practice_key,
    k.patient_id,
    x.entry_cluster,
    x.entry_day,
    x.code,
    x.episode
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
    entry_day <= CAST('2024-03-31' AS DATE)
), reg_dat AS (
  SELECT
    unit,
    MAX(registration_date) AS d
  FROM unit_regs
  WHERE
    registration_date <= CAST('2024-03-31' AS DATE)
    AND (
      deregistration_date IS NULL OR deregistration_date > CAST('2024-03-31' AS DATE)
    )
  GROUP BY
    unit
), q2_date AS (
  SELECT
    unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CAN_COD'
    AND NOT episode IN ('review', 'ended', 'changed', 'evolved', 'flare-up')
  GROUP BY
    unit
), population_can001 AS (
  SELECT
    k.unit
  FROM kept AS k
  JOIN reg_dat AS r
    ON k.unit = r.unit
), facts_can001 AS (
  SELECT
    p.unit,
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
    unit
  FROM decided_can001
  WHERE
    rule_index IN (0)
), q7_date AS (
  SELECT
    v.unit,
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
    unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CANPCAPU_COD'
  GROUP BY
    unit
), q9_date AS (
  SELECT
    unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'CANPCADEC_COD'
  GROUP BY
    unit
), q10_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CANINVITE_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
  GROUP BY
    unit
), population_can004 AS (
  SELECT
    unit
  FROM selected_can001
), facts_can004 AS (
  SELECT
    p.unit,
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
      WHEN d_can_dat <= /* CAN004 R1 reject_exclusion CAN_DAT24M: Diagnosed more than 24 months before the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-24) MONTH AS DATE)
      THEN 0
      WHEN d_mdrv_dat <= /* CAN004 R2 reject_exclusion MDRV_DAT: Cancer care review recorded more than 12 months before the reference date (credited in an earlier year) */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 1
      WHEN d_mdrv_dat <= /* CAN004 R3 select_numerator: Cancer care review within 12 months of diagnosis */ CAST(d_can_dat + INTERVAL 12 MONTH AS DATE)
      THEN 2
      WHEN d_can_dat > /* CAN004 R5 reject_exclusion DIAGCRV12M: Diagnosed in the 12 months up to the reference date and not yet reviewed */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 3
      WHEN d_pcapu_dat > /* CAN004 R6 reject_pca CANPCAPU: Cancer quality indicator care unsuitable, recorded in the 12 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 4
      WHEN d_pcadec_dat > /* CAN004 R7 reject_pca CANPCADEC: Patient chose not to receive cancer quality indicator care, recorded in the 12 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 5
      WHEN COALESCE(q10_count_n, 0) >= 2
      AND /* CAN004 R8 reject_pca CANINVITE: At least two invitations for a cancer care review, at least 7 days apart, in the 12 months up to the reference date */ DATE_DIFF('DAY', q10_count_first, q10_count_last) >= 7
      THEN 6
      WHEN d_can_dat > /* CAN004 R9 reject_pca DIAG1_DAT: Diagnosed in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 7
      WHEN d_reg_dat > /* CAN004 R10 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 8
      WHEN 1 = /* CAN004 R11 select_denominator: Everyone left is in the denominator without a timely review */ 1
      THEN 9
      ELSE NULL
    END AS rule_index
  FROM facts_can004
), selected_can004 AS (
  SELECT
    unit
  FROM decided_can004
  WHERE
    rule_index IN (2, 9)
), q15_date AS (
  SELECT
    v.unit,
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
    unit
  FROM selected_can001
), facts_can005 AS (
  SELECT
    p.unit,
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
      WHEN d_can_dat <= /* CAN005 R1 reject_exclusion CANDAT15M: Diagnosed more than 15 months before the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-15) MONTH AS DATE)
      THEN 0
      WHEN d_supp_dat <= /* CAN005 R2 reject_exclusion CANSUP12M: Support information given more than 12 months before the reference date (credited in an earlier year) */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 1
      WHEN d_supp_dat <= /* CAN005 R3 select_numerator: Support discussion within 3 months of diagnosis */ CAST(d_can_dat + INTERVAL 3 MONTH AS DATE)
      THEN 2
      WHEN d_can_dat > /* CAN005 R4 reject_exclusion DIAGCSUP3M: Diagnosed in the 3 months up to the reference date and support not yet offered */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 3
      WHEN d_pcapu_dat > /* CAN005 R5 reject_pca CANPCAPU: Cancer quality indicator care unsuitable, recorded in the 12 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 4
      WHEN d_pcadec_dat > /* CAN005 R6 reject_pca CANPCADEC: Patient chose not to receive cancer quality indicator care, recorded in the 12 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
      THEN 5
      WHEN COALESCE(q10_count_n, 0) >= 2
      AND /* CAN005 R7 reject_pca CANINVITE: At least two invitations for a cancer care review, at least 7 days apart, in the 12 months up to the reference date */ DATE_DIFF('DAY', q10_count_first, q10_count_last) >= 7
      THEN 6
      WHEN d_can_dat > /* CAN005 R8 reject_pca DIAG1_DAT: Diagnosed in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 7
      WHEN d_reg_dat > /* CAN005 R9 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 8
      WHEN 1 = /* CAN005 R10 select_denominator: Everyone left is in the denominator without a timely support discussion */ 1
      THEN 9
      ELSE NULL
    END AS rule_index
  FROM facts_can005
), selected_can005 AS (
  SELECT
    unit
  FROM decided_can005
  WHERE
    rule_index IN (2, 9)
), q20_date AS (
  SELECT
    unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'SMEAR_COD'
  GROUP BY
    unit
), q21_date AS (
  SELECT
    unit,
    MAX(entry_day) AS d
  FROM visible
  WHERE
    entry_cluster = 'NOCX_COD'
  GROUP BY
    unit
), q22_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'SMEAR_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-42) MONTH AS DATE)
  GROUP BY
    unit
), q23_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSPCAINVITE_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-42) MONTH AS DATE)
  GROUP BY
    unit
), q24_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSDEC_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-42) MONTH AS DATE)
  GROUP BY
    unit
), q25_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSPU_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-42) MONTH AS DATE)
  GROUP BY
    unit
), q26_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'PREG_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-12) MONTH AS DATE)
  GROUP BY
    unit
), population_cs005 AS (
  SELECT
    k.unit
  FROM kept AS k
  JOIN reg_dat AS r
    ON k.unit = r.unit
  WHERE
    k.sex IN ('f', 'female', '2') AND NOT k.date_of_birth IS NULL
), facts_cs005 AS (
  SELECT
    p.unit,
    b.date_of_birth AS birth_day,
    t_d_reg_dat.d AS d_reg_dat,
    t_d_smear_dat.d AS d_smear_dat,
    t_d_nocx_dat.d AS d_nocx_dat,
    q22_count.n AS q22_count_n,
    q22_count.first_day AS q22_count_first,
    q22_count.last_day AS q22_count_last,
    q23_count.n AS q23_count_n,
    q23_count.first_day AS q23_count_first,
    q23_count.last_day AS q23_count_last,
    q24_count.n AS q24_count_n,
    q24_count.first_day AS q24_count_first,
    q24_count.last_day AS q24_count_last,
    q25_count.n AS q25_count_n,
    q25_count.first_day AS q25_count_first,
    q25_count.last_day AS q25_count_last,
    q26_count.n AS q26_count_n,
    q26_count.first_day AS q26_count_first,
    q26_count.last_day AS q26_count_last
  FROM population_cs005 AS p
  JOIN kept AS b
    ON p.unit = b.unit
  LEFT JOIN reg_dat AS t_d_reg_dat
    ON p.unit = t_d_reg_dat.unit
  LEFT JOIN q20_date AS t_d_smear_dat
    ON p.unit = t_d_smear_dat.unit
  LEFT JOIN q21_date AS t_d_nocx_dat
    ON p.unit = t_d_nocx_dat.unit
  LEFT JOIN q22_count
    ON p.unit = q22_count.unit
  LEFT JOIN q23_count
    ON p.unit = q23_count.unit
  LEFT JOIN q24_count
    ON p.unit = q24_count.unit
  LEFT JOIN q25_count
    ON p.unit = q25_count.unit
  LEFT JOIN q26_count
    ON p.unit = q26_count.unit
), decided_cs005 AS (
  SELECT
    *,
    CASE
      WHEN CAST(birth_day + INTERVAL 300 MONTH AS DATE) > CAST('2024-03-31' AS DATE)
      OR /* CS005 R1 reject_exclusion P_AGE25_49: Aged under 25 or over 49 at the reference date */ CAST(birth_day + INTERVAL 600 MONTH AS DATE) <= CAST('2024-03-31' AS DATE)
      THEN 0
      WHEN d_nocx_dat <= /* CS005 R2 reject_exclusion NOCX: No cervix (e.g. a total hysterectomy) recorded on or before the reference date */ CAST('2024-03-31' AS DATE)
      THEN 1
      WHEN COALESCE(q22_count_n, 0) >= /* CS005 R3 select_numerator: An adequate cervical screening test in the 3 years and 6 months up to the reference date */ 1
      THEN 2
      WHEN COALESCE(q23_count_n, 0) >= /* CS005 R4 reject_pca CSPCAINV: No response to three invitations, recorded in the screening window */ 1
      THEN 3
      WHEN COALESCE(q24_count_n, 0) >= /* CS005 R5 reject_pca CSDEC: Chose not to be screened, recorded in the screening window */ 1
      THEN 4
      WHEN COALESCE(q25_count_n, 0) >= /* CS005 R6 reject_pca CSPU: Screening unsuitable, recorded in the screening window */ 1
      THEN 5
      WHEN COALESCE(q26_count_n, 0) >= /* CS005 R7 reject_pca PREG_DAT: Pregnant, recorded in the 12 months up to the reference date */ 1
      THEN 6
      WHEN d_reg_dat > /* CS005 R8 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 7
      WHEN 1 = /* CS005 R9 select_denominator: Everyone left is in the denominator without a test in the window */ 1
      THEN 8
      ELSE NULL
    END AS rule_index
  FROM facts_cs005
), selected_cs005 AS (
  SELECT
    unit
  FROM decided_cs005
  WHERE
    rule_index IN (2, 8)
), q31_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'SMEAR_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-66) MONTH AS DATE)
  GROUP BY
    unit
), q32_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSPCAINVITE_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-66) MONTH AS DATE)
  GROUP BY
    unit
), q33_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSDEC_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-66) MONTH AS DATE)
  GROUP BY
    unit
), q34_count AS (
  SELECT
    unit,
    COUNT(*) AS n,
    MIN(entry_day) AS first_day,
    MAX(entry_day) AS last_day
  FROM visible
  WHERE
    entry_cluster = 'CSPU_COD'
    AND entry_day > CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-66) MONTH AS DATE)
  GROUP BY
    unit
), population_cs006 AS (
  SELECT
    k.unit
  FROM kept AS k
  JOIN reg_dat AS r
    ON k.unit = r.unit
  WHERE
    k.sex IN ('f', 'female', '2') AND NOT k.date_of_birth IS NULL
), facts_cs006 AS (
  SELECT
    p.unit,
    b.date_of_birth AS birth_day,
    t_d_reg_dat.d AS d_reg_dat,
    t_d_smear_dat.d AS d_smear_dat,
    t_d_nocx_dat.d AS d_nocx_dat,
    q31_count.n AS q31_count_n,
    q31_count.first_day AS q31_count_first,
    q31_count.last_day AS q31_count_last,
    q32_count.n AS q32_count_n,
    q32_count.first_day AS q32_count_first,
    q32_count.last_day AS q32_count_last,
    q33_count.n AS q33_count_n,
    q33_count.first_day AS q33_count_first,
    q33_count.last_day AS q33_count_last,
    q34_count.n AS q34_count_n,
    q34_count.first_day AS q34_count_first,
    q34_count.last_day AS q34_count_last
  FROM population_cs006 AS p
  JOIN kept AS b
    ON p.unit = b.unit
  LEFT JOIN reg_dat AS t_d_reg_dat
    ON p.unit = t_d_reg_dat.unit
  LEFT JOIN q20_date AS t_d_smear_dat
    ON p.unit = t_d_smear_dat.unit
  LEFT JOIN q21_date AS t_d_nocx_dat
    ON p.unit = t_d_nocx_dat.unit
  LEFT JOIN q31_count
    ON p.unit = q31_count.unit
  LEFT JOIN q32_count
    ON p.unit = q32_count.unit
  LEFT JOIN q33_count
    ON p.unit = q33_count.unit
  LEFT JOIN q34_count
    ON p.unit = q34_count.unit
), decided_cs006 AS (
  SELECT
    *,
    CASE
      WHEN CAST(birth_day + INTERVAL 600 MONTH AS DATE) > CAST('2024-03-31' AS DATE)
      OR /* CS006 R1 reject_exclusion P_AGE50_64: Aged under 50 or over 64 at the reference date */ CAST(birth_day + INTERVAL 780 MONTH AS DATE) <= CAST('2024-03-31' AS DATE)
      THEN 0
      WHEN d_nocx_dat <= /* CS006 R2 reject_exclusion NOCX: No cervix (e.g. a total hysterectomy) recorded on or before the reference date */ CAST('2024-03-31' AS DATE)
      THEN 1
      WHEN COALESCE(q31_count_n, 0) >= /* CS006 R3 select_numerator: An adequate cervical screening test in the 5 years and 6 months up to the reference date */ 1
      THEN 2
      WHEN COALESCE(q32_count_n, 0) >= /* CS006 R4 reject_pca CSPCAINV: No response to three invitations, recorded in the screening window */ 1
      THEN 3
      WHEN COALESCE(q33_count_n, 0) >= /* CS006 R5 reject_pca CSDEC: Chose not to be screened, recorded in the screening window */ 1
      THEN 4
      WHEN COALESCE(q34_count_n, 0) >= /* CS006 R6 reject_pca CSPU: Screening unsuitable, recorded in the screening window */ 1
      THEN 5
      WHEN d_reg_dat > /* CS006 R7 reject_pca REG1_DAT3: Registered in the 3 months up to the reference date */ CAST(CAST('2024-03-31' AS DATE) + INTERVAL (-3) MONTH AS DATE)
      THEN 6
      WHEN 1 = /* CS006 R8 select_denominator: Everyone left is in the denominator without a test in the window */ 1
      THEN 7
      ELSE NULL
    END AS rule_index
  FROM facts_cs006
), selected_cs006 AS (
  SELECT
    unit
  FROM decided_cs006
  WHERE
    rule_index IN (2, 7)
)
SELECT
  practice_code,
  patient_id,
  indicator,
  outcome,
  rule_id,
  field_name,
  d_can_dat AS can_dat,
  d_mdrv_dat AS mdrv_dat,
  d_supp_dat AS supp_dat,
  d_smear_dat AS smear_dat,
  d_reg_dat AS reg_dat,
  due_by
FROM (
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
    CAST(NULL AS DATE) AS d_smear_dat,
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
      THEN 'R5'
      WHEN rule_index = 4
      THEN 'R6'
      WHEN rule_index = 5
      THEN 'R7'
      WHEN rule_index = 6
      THEN 'R8'
      WHEN rule_index = 7
      THEN 'R9'
      WHEN rule_index = 8
      THEN 'R10'
      WHEN rule_index = 9
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
      THEN 'DIAGCRV12M'
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
    d_mdrv_dat AS d_mdrv_dat,
    CAST(NULL AS DATE) AS d_supp_dat,
    CAST(NULL AS DATE) AS d_smear_dat,
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
      AND CAST(d_can_dat + INTERVAL 12 MONTH AS DATE) >= CAST('2024-03-31' AS DATE)
      THEN CAST(d_can_dat + INTERVAL 12 MONTH AS DATE)
      ELSE NULL
    END AS due_by,
    CAST(d_can_dat + INTERVAL 12 MONTH AS DATE) AS deadline
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
      THEN 'CANDAT15M'
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
    CAST(NULL AS DATE) AS d_smear_dat,
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
      AND CAST(d_can_dat + INTERVAL 3 MONTH AS DATE) >= CAST('2024-03-31' AS DATE)
      THEN CAST(d_can_dat + INTERVAL 3 MONTH AS DATE)
      ELSE NULL
    END AS due_by,
    CAST(d_can_dat + INTERVAL 3 MONTH AS DATE) AS deadline
  FROM decided_can005 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
  UNION ALL
  SELECT
    NULLIF(k.practice_key, '') AS practice_code,
    k.patient_id,
    'CS005' AS indicator,
    CASE
      WHEN rule_index = 0
      THEN 'exclusion'
      WHEN rule_index = 1
      THEN 'exclusion'
      WHEN rule_index = 2
      THEN 'numerator'
      WHEN rule_index = 3
      THEN 'pca'
      WHEN rule_index = 4
      THEN 'pca'
      WHEN rule_index = 5
      THEN 'pca'
      WHEN rule_index = 6
      THEN 'pca'
      WHEN rule_index = 7
      THEN 'pca'
      WHEN rule_index = 8
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
      ELSE NULL
    END AS rule_id,
    CASE
      WHEN rule_index = 0
      THEN 'P_AGE25_49'
      WHEN rule_index = 1
      THEN 'NOCX'
      WHEN rule_index = 2
      THEN NULL
      WHEN rule_index = 3
      THEN 'CSPCAINV'
      WHEN rule_index = 4
      THEN 'CSDEC'
      WHEN rule_index = 5
      THEN 'CSPU'
      WHEN rule_index = 6
      THEN 'PREG_DAT'
      WHEN rule_index = 7
      THEN 'REG1_DAT3'
      WHEN rule_index = 8
      THEN NULL
      ELSE NULL
    END AS field_name,
    CAST(NULL AS DATE) AS d_can_dat,
    CAST(NULL AS DATE) AS d_mdrv_dat,
    CAST(NULL AS DATE) AS d_supp_dat,
    d_smear_dat AS d_smear_dat,
    d_reg_dat AS d_reg_dat,
    CAST(NULL AS DATE) AS due_by,
    CAST(NULL AS DATE) AS deadline
  FROM decided_cs005 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
  UNION ALL
  SELECT
    NULLIF(k.practice_key, '') AS practice_code,
    k.patient_id,
    'CS006' AS indicator,
    CASE
      WHEN rule_index = 0
      THEN 'exclusion'
      WHEN rule_index = 1
      THEN 'exclusion'
      WHEN rule_index = 2
      THEN 'numerator'
      WHEN rule_index = 3
      THEN 'pca'
      WHEN rule_index = 4
      THEN 'pca'
      WHEN rule_index = 5
      THEN 'pca'
      WHEN rule_index = 6
      THEN 'pca'
      WHEN rule_index = 7
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
      ELSE NULL
    END AS rule_id,
    CASE
      WHEN rule_index = 0
      THEN 'P_AGE50_64'
      WHEN rule_index = 1
      THEN 'NOCX'
      WHEN rule_index = 2
      THEN NULL
      WHEN rule_index = 3
      THEN 'CSPCAINV'
      WHEN rule_index = 4
      THEN 'CSDEC'
      WHEN rule_index = 5
      THEN 'CSPU'
      WHEN rule_index = 6
      THEN 'REG1_DAT3'
      WHEN rule_index = 7
      THEN NULL
      ELSE NULL
    END AS field_name,
    CAST(NULL AS DATE) AS d_can_dat,
    CAST(NULL AS DATE) AS d_mdrv_dat,
    CAST(NULL AS DATE) AS d_supp_dat,
    d_smear_dat AS d_smear_dat,
    d_reg_dat AS d_reg_dat,
    CAST(NULL AS DATE) AS due_by,
    CAST(NULL AS DATE) AS deadline
  FROM decided_cs006 AS c
  JOIN kept AS k
    ON c.unit = k.unit
  WHERE
    NOT rule_index IS NULL
) AS o
ORDER BY
  practice_code,
  indicator,
  patient_id;
