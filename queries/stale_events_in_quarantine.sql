-- Silver rows held out by a row-level check (e.g. live events older than the freshness
-- bound after an outage): how many per check; `wikistream quarantine replay` brings them in.
SELECT unnest(failed_checks) AS check_name, count(*) AS rows, min(event_ts) AS oldest,
       max(event_ts) AS newest
FROM silver.quarantine
GROUP BY 1
ORDER BY rows DESC, check_name;
