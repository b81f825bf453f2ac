"""A user's own package, as the tests import it by path (``userpkg.tabular:load_rows``)."""
