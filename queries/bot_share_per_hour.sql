-- Share of events made by bots, per hour (all wikis).
SELECT date_trunc('hour', event_ts)      AS hour,
       count(*)                          AS events,
       round(avg(is_bot::INTEGER), 4)    AS bot_share
FROM silver.events
GROUP BY 1
ORDER BY 1;
