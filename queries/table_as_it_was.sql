-- What a table looked like then: run it with --as-of (a time, or a snapshot id from
-- `wikistream history silver.events`), e.g.
--   wikistream query --file queries/table_as_it_was.sql --as-of 2026-11-23T08:00:00Z
SELECT domain, count(*) AS events, max(event_ts) AS newest_event
FROM silver.events
GROUP BY domain
ORDER BY events DESC, domain;
