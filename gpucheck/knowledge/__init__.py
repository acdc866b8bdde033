"""Version knowledge as data: one TOML file per table, every row with its source URL and the date checked.

Conventions every table in this folder follows (``load.py`` enforces them, ``tests/knowledge`` tests them):

- ``<name>.toml`` holds one table. Its ``[table]`` header has ``name`` (the file's stem), ``description``,
  ``schema`` (an integer, bumped when the row shape changes) and ``checked`` (a TOML date: the day someone
  last confirmed the table lists everything its sources list, so that a version past the newest row is
  "newer than this table", not an omission).
- Rows are arrays of tables (``[[release]]``, ``[[wheel]]``, ...). Every row has ``source`` (an ``https://``
  URL where the row's values can be read) and ``checked`` (a TOML date); optionally ``written_by``
  (``"hand"``, the default, or ``"scripts/refresh-knowledge.py"`` for rows the refresh script rebuilt) and
  ``note`` (free text, quoted from or pointing into the source).
- ``schema/<name>.schema.json`` is the JSON Schema of the file as parsed by ``tomllib`` (dates as strings);
  the test suite validates every table against it.
- Code never hard-codes a version table: it asks ``gpucheck.knowledge.load`` (typed readers), and a
  version beyond the newest row comes back as a ``NewerThanTable`` value, never silently as the last row.
"""
