"""Developer tooling shipped with fbsync, not used by a sync: the demo CRM and the benchmarks."""
