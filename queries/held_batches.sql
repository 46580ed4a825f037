-- Batches a quality gate holds now or held: the failed checks of each held gate run.
SELECT run_id, layer, table_name, min(run_at) AS run_at,
       list(check_name ORDER BY check_name) FILTER (WHERE verdict = 'fail') AS failed_checks
FROM dq.results
WHERE gate = 'held'
GROUP BY run_id, layer, table_name
ORDER BY run_at DESC, run_id;
