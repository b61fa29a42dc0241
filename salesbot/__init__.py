"""Shared code of the Оттенок sales assistant: used by the Rasa server (Python 3.10) and the action server (3.11)."""
