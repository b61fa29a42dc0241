"""Development harness shared by the tests and the benchmarks: the real servers started on free local ports
(`stack`), a local OpenAI-compatible LLM stand-in (`llm_stub`), a knowledge base built from a shop's documents
(`knowledge`) and the scripted-customer simulator (`simulator`). Nothing here runs in production."""
