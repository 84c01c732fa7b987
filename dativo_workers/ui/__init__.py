"""`dativo ui`: a read-only web dashboard over the ledger and the catalog (the `ui` extra)."""
