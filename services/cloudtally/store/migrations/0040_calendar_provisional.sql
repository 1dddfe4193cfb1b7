-- Hours weighted by the plain weekday rule because their local year has no
-- official working-day schedule (cloudtally.core.calendar): flagged on the hour
-- weights, on every VM-hour and VM-day rolled up with them, and on the bill
-- lines whose low-utilization evidence includes them. Re-derived, and cleared,
-- once the policy file supplies the year's schedule.
ALTER TABLE hour_weights ADD COLUMN provisional UInt8 DEFAULT 0;
ALTER TABLE usage_hourly ADD COLUMN calendar_provisional UInt8 DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN calendar_provisional_hours UInt8 DEFAULT 0;
ALTER TABLE bill_lines ADD COLUMN calendar_provisional UInt8 DEFAULT 0
