-- Activity over time, all wikis: events, edits and editors per 10-minute window (gold).
SELECT window_start, events, edits, distinct_users, bytes_net
FROM gold.metrics_10min
WHERE scope = 'global'
ORDER BY window_start;
