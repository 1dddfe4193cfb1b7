"""The scorecard's adapters: manual entries and surveys in the store, gathering the
inputs from the store and the policy, and the reports (JSON, XLSX, HTML). The rules are
in :mod:`cloudtally.core.scorecard`."""
