"""Operations: configuration loading, health, metrics, logs, reload, migrations and transfer CLIs."""
