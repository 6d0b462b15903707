"""Runtime pieces of the edge: configuration loading, health, metrics, logs, reload, the start-up
migration rule. The commands that start a process are in app/commands."""
