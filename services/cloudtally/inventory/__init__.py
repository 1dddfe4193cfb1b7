"""The buyer's resource ledger: import, diff against inventory, inventory events."""
