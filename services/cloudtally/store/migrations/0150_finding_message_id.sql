-- A finding's sentence is rendered at read time, in the reader's language, from its
-- rule id, this message id (the rule's variant, e.g. A1.contracted: the catalogue's
-- finding.<id>) and its evidence (cloudtally.i18n.findings). '' = a finding stored before
-- (its rule and evidence imply the template). `message` keeps the English text as
-- written, for readers of the table that predate the catalogue.
ALTER TABLE verification_findings ADD COLUMN message_id String DEFAULT ''
