"""The edge: web app, GraphQL, CLI and the one composition root.

Importing it changes nothing in the process: thread pins and malloc tuning are applied by the
entry point that starts the process (app/__main__.py, the serve command: app/process.py)."""
