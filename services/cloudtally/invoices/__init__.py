"""Provider invoices: import, verification against metered usage, reports (issue 5)."""
