-- Quality gate failures per check: how often each failed, at which level, how many held.
SELECT layer, table_name, check_name, level,
       count(*)                              AS failures,
       count(*) FILTER (WHERE gate = 'held') AS held,
       max(run_at)                           AS last_failed
FROM dq.results
WHERE verdict = 'fail'
GROUP BY ALL
ORDER BY failures DESC, check_name;
