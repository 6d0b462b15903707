"""Embedding and LLM providers: local models (ONNX / torch) and OpenAI-compatible HTTP APIs."""
