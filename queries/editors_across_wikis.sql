-- Editors active on several wikis (cross-wiki activity is one risk component).
SELECT "user", count(DISTINCT domain) AS wikis, count(*) AS events,
       list(DISTINCT domain ORDER BY domain) AS domains
FROM silver.events
WHERE "user" IS NOT NULL
GROUP BY "user"
HAVING count(DISTINCT domain) >= 2
ORDER BY wikis DESC, events DESC, "user"
LIMIT 50;
