-- A line whose low-utilization cut is evaluated per calendar month and was rated
-- before that month was complete: its cut may still change. The stream re-rates
-- every day of the month as each day closes, so the lines rated after the
-- month's last day closed (and any explicit re-rate of a complete month) carry 0.
ALTER TABLE bill_lines ADD COLUMN month_provisional UInt8 DEFAULT 0
