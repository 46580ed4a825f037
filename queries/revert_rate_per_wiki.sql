-- Revert rate per wiki: reverts (detected from edit summaries) per edit.
SELECT domain,
       count(*) FILTER (WHERE type = 'edit')                        AS edits,
       count(*) FILTER (WHERE is_revert)                            AS reverts,
       round(count(*) FILTER (WHERE is_revert)
             / nullif(count(*) FILTER (WHERE type = 'edit'), 0), 4) AS revert_rate
FROM silver.events
GROUP BY domain
HAVING count(*) FILTER (WHERE type = 'edit') > 0
ORDER BY revert_rate DESC, domain;
