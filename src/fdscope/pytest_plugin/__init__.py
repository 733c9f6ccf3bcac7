"""pytest plugin: fail tests that leak descriptors (registered via the pytest11 entry point)."""
