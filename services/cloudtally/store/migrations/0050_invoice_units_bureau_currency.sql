-- Invoice edges (issue 10): what a provider's line says beyond the first layout.
--   bureau        the bureau (委办局) the provider bills the line to, as mapped
--   quantity_per  time basis of the quantity: hour | day | month | '' (catalog unit)
--   price_per     time basis of the unit prices
-- An invoice in another currency is stored converted to CNY; the header keeps
-- the source currency and the rate the user gave (text, exact as given).
-- Verification totals keep what could not be verified apart from over-billing.
ALTER TABLE invoice_lines ADD COLUMN bureau String DEFAULT '';
ALTER TABLE invoice_lines ADD COLUMN quantity_per String DEFAULT '';
ALTER TABLE invoice_lines ADD COLUMN price_per String DEFAULT '';
ALTER TABLE invoices ADD COLUMN source_currency String DEFAULT '';
ALTER TABLE invoices ADD COLUMN exchange_rate String DEFAULT '';
ALTER TABLE verification_totals ADD COLUMN unverified Decimal(18, 2) DEFAULT 0;
ALTER TABLE verification_runs ADD COLUMN unverified_total Decimal(18, 2) DEFAULT 0;
