-- Where in the world the editing happens: events per region of the wiki's language.
SELECT region, count(*) AS events, round(count(*) / sum(count(*)) OVER (), 4) AS share
FROM silver.events
GROUP BY region
ORDER BY events DESC, region;
