-- Dead letters per hour of arrival and reason: what the decode edge refused, and when.
SELECT date_trunc('hour', ingested_at) AS hour, reason, count(*) AS records
FROM bronze.quarantine
GROUP BY 1, 2
ORDER BY 1, records DESC, reason;
