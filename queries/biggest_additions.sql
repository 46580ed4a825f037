-- The biggest additions of text: who added most bytes in one change.
SELECT event_ts, domain, title, "user", length_delta
FROM silver.events
WHERE length_delta > 0
ORDER BY length_delta DESC, event_id
LIMIT 20;
