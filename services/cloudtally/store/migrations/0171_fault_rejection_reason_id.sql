-- A rejected fault-report row keeps why in neither language: the reason id (the
-- catalogue's fault.<id>) and its parameters as JSON, told in the reader's language
-- (cloudtally.i18n.reasons.fault_rejection). '' = a row rejected before: `reason`
-- (English, as written) is shown.
ALTER TABLE fault_rejections ADD COLUMN reason_id String DEFAULT '';
ALTER TABLE fault_rejections ADD COLUMN reason_params String DEFAULT '';
