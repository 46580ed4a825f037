-- Log events by type and action (deletions, blocks, moves …), with one target from the
-- log parameters (JSON).
SELECT log_type, log_action, count(*) AS events,
       any_value(json_extract_string(log_params, '$.target')) AS a_target
FROM bronze.events
WHERE type = 'log'
GROUP BY log_type, log_action
ORDER BY events DESC, log_type, log_action;
