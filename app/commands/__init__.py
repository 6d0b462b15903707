"""The entry points of `python -m app`: one module per command (or group of commands), each adding
its arguments to the parser in cli.py and running from there.

This is the top floor of the edge: commands compose the process through app/bootstrap.py and
app/web.py, and nothing below imports them (a contract in pyproject.toml). A command module
imports only what its arguments need; the work it runs is imported when it runs, so that
`python -m app config check` does not load the web stack or the model."""
