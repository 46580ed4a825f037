-- The riskiest editors: each user's highest score, with the hour and the reasons.
SELECT "user", user_kind, window_start, risk_score, risk_level, reasons
FROM gold.risk_scores
QUALIFY row_number() OVER (PARTITION BY "user" ORDER BY risk_score DESC, window_start DESC) = 1
ORDER BY risk_score DESC, "user"
LIMIT 20;
