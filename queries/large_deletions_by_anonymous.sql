-- Large deletions by anonymous editors (IP addresses and temporary accounts), newest first.
SELECT event_ts, domain, title, "user", user_kind, length_delta
FROM silver.events
WHERE is_large_deletion AND is_anonymous
ORDER BY event_ts DESC, event_id
LIMIT 100;
