-- Verification as SQL (issue 14): the resource keys of one verification pass that the
-- store could not clear (cloudtally.invoices.verify_sql). A key whose every line matches
-- its metered charge exactly is settled inside the store; the keys written here, under
-- the pass's token, are the ones the Python rules then check line by line. Rows are
-- deleted when the pass ends.
CREATE TABLE IF NOT EXISTS invoice_verify_keys (
    token String,
    resource_key String
) ENGINE = MergeTree
ORDER BY (token, resource_key);
