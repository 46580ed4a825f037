-- The daily summary: KPIs, risk mix and the platform health score (0-100).
SELECT event_date, events, edits, distinct_users, reverts, large_deletions,
       users_high_risk, users_medium_risk, health_score
FROM gold.daily_summary
ORDER BY event_date;
