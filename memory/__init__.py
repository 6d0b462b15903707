"""AgentMem's memory core: models, ports, the service and its helpers.

Imports no adapter, web framework or driver; see tests/unit/test_import_rules.py.
"""
