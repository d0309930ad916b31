"""GraphFlow's session layout (Rust crate ``graph-flow`` 0.5, ``PostgresSessionStorage``).

One PostgreSQL table, ``sessions`` (the name turul's layout uses too: the two are told apart
by their columns, see :mod:`.detect`): a UUID id, the graph and task a session is at, and its
whole ``Context`` as JSONB. GraphFlow writes by upsert keeping the newer ``updated_at``, has no
expiry column and never cleans up: a session is idle by ``updated_at``.

This package imports nothing above the layouts; SQLAlchemy loads only with :mod:`.schema`.
"""

NAME = "graphflow"
