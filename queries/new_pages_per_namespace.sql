-- Pages created, per wiki and namespace (0: articles, 2: user pages, …).
SELECT domain, namespace, count(*) AS new_pages
FROM silver.events
WHERE type = 'new'
GROUP BY domain, namespace
ORDER BY new_pages DESC, domain, namespace;
