"""The fault-injection harness (make chaos): docs/chaos.md."""
