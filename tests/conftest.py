from app.process import pin_threads

# the thread counts `python -m app` sets (app/__main__.py), before any test or fixture imports
# numpy or a model runtime: importing `app` no longer sets them
pin_threads()

pytest_plugins = ["tests.fixtures.sql", "tests.fixtures.openai_fake", "tests.fixtures.bolt", "tests.fixtures.rerank_fake",
                  "tests.fixtures.otlp_fake", "tests.fixtures.idp_fake",
                  "tests.fixtures.webhook_receiver", "tests.fixtures.index_build"]
