"""Evidence an auditor can check without trusting cloudtally.

- :mod:`.ledger`   the hash-chained ledger of every act that fixes money or policy;
- :mod:`.subjects` what each kind of entry fixes (one selector per kind);
- :mod:`.issue`    issued months and restatements (红冲): closed months are append-only;
- :mod:`.pack`     self-verifying evidence packs (with a standalone verifier).
"""
