"""In-memory implementations of the core's ports, for unit tests and contract tests.

They follow the port docstrings; tests/contract runs the same cases against them and the
real adapters so the two cannot drift apart."""
