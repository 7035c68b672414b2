"""Python imports this at start-up when tests/offline is on PYTHONPATH: the guard goes in first."""

import offline_guard

offline_guard.install()
