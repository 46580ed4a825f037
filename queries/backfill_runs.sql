-- Backfill runs: state, items and rows written (the manifest is at runs/<run_id>/).
SELECT run_id, state, items_planned, items_done, items_failed, rows_written,
       started_at, finished_at
FROM ops.runs
ORDER BY started_at DESC;
