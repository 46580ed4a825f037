-- Whose edits others revert most (from revert edit summaries), and by which method.
SELECT reverted_user, count(*) AS reverted, list(DISTINCT revert_method ORDER BY revert_method)
       AS methods
FROM silver.events
WHERE is_revert AND reverted_user IS NOT NULL
GROUP BY reverted_user
ORDER BY reverted DESC, reverted_user
LIMIT 20;
