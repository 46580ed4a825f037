-- Busiest wikis in the last hour of data: events, edits, distinct editors.
-- "Now" is the newest event silver holds, so the answer means the same on old data.
WITH now AS (SELECT max(event_ts) AS t FROM silver.events)
SELECT domain,
       count(*)                               AS events,
       count(*) FILTER (WHERE type = 'edit')  AS edits,
       count(DISTINCT "user")                 AS editors
FROM silver.events, now
WHERE event_ts > now.t - INTERVAL 1 HOUR
GROUP BY domain
ORDER BY events DESC, domain
LIMIT 20;
