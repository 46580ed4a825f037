-- Dead letters per source and reason, with their largest size.
SELECT source, reason, count(*) AS records, max(raw_size) AS largest_bytes
FROM bronze.quarantine
GROUP BY source, reason
ORDER BY records DESC, source, reason;
