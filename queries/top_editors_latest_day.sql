-- The most active editors of the latest day in the data, with the wikis they touched.
WITH day AS (SELECT max(event_date) AS d FROM silver.events)
SELECT "user", user_kind, count(*) AS events, count(DISTINCT domain) AS wikis
FROM silver.events, day
WHERE event_date = day.d AND "user" IS NOT NULL
GROUP BY "user", user_kind
ORDER BY events DESC, "user"
LIMIT 20;
