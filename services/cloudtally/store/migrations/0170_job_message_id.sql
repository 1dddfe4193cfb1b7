-- A job's failure is stored in neither language: the reason id (the catalogue's
-- import.<id>) and its parameters as JSON, rendered when read in the reader's language
-- (cloudtally.i18n.reasons); each bad row's id and parameters are in `errors` beside its
-- English reason. '' = a job stored before: `message` (English, as written) is shown.
ALTER TABLE jobs ADD COLUMN message_id String DEFAULT '';
ALTER TABLE jobs ADD COLUMN message_params String DEFAULT '';
