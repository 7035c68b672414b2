"""The duel store on a real PostgreSQL: every test of tests/unit/test_history_store.py that
asks for a database (directly or through `store`) runs here once more, with this folder's
`database_url` (databases.py: a fresh database on the session's cluster) in place of the
unit layer's SQLite file."""

import inspect

import test_history_store as on_sqlite

store = on_sqlite.store  # the fixture, asking for this folder's `database_url`
globals().update({
    name: test for name, test in vars(on_sqlite).items()
    if name.startswith("test_") and {"store", "database_url"} & set(inspect.signature(test).parameters)
})
