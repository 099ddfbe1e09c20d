"""The one error type of the data layer.

A `DataError` says which dataset or file could not be loaded, what was
expected and what was found, and how to fix it; the command line reports it
as a one-line configuration error rather than a traceback.
"""


class DataError(ValueError):
  """Data that cannot be loaded as configured; the message says why."""
