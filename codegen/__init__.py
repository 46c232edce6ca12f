"""`cello-gen`: service classes → schema model → `.proto` and stubs (docs/architecture.md)."""
