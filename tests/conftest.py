pytest_plugins = ["tests.fixtures.sql", "tests.fixtures.openai_fake", "tests.fixtures.bolt", "tests.fixtures.rerank_fake",
                  "tests.fixtures.idp_fake"]
