"""fbsync's local state: the store (:mod:`.store`: ledger, runs, suppression), its keys and
encryption (:mod:`.crypto`), per-run scratch files (:mod:`.staging`) and run locks (:mod:`.locks`).
Only this package reads or writes the state store."""
