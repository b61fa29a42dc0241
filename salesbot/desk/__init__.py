"""The desk: the notifications API (and later the managers' page), a Starlette app on uvicorn."""
