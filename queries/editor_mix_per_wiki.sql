-- Who edits each wiki: registered humans, bots, IP addresses, temporary accounts.
SELECT domain,
       count(*) FILTER (WHERE user_kind = 'registered') AS registered,
       count(*) FILTER (WHERE user_kind = 'bot')        AS bot,
       count(*) FILTER (WHERE user_kind = 'ip')         AS ip,
       count(*) FILTER (WHERE user_kind = 'temporary')  AS temporary,
       count(*)                                         AS events
FROM silver.events
GROUP BY domain
ORDER BY events DESC, domain;
