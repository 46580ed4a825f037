-- Freshness per layer: the newest event each table holds, and how many seconds ago that
-- was (what `wikistream status` and the freshness alert measure).
SELECT 'bronze.events' AS "table", max(event_ts) AS newest_event,
       round(epoch(now()) - epoch(max(event_ts))) AS behind_s FROM bronze.events
UNION ALL
SELECT 'silver.events', max(event_ts), round(epoch(now()) - epoch(max(event_ts)))
FROM silver.events
UNION ALL
SELECT 'gold.hourly_stats', max(event_hour) + INTERVAL 1 HOUR,
       round(epoch(now()) - epoch(max(event_hour) + INTERVAL 1 HOUR)) FROM gold.hourly_stats
ORDER BY 1;
