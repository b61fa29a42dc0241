"""GREEN-API: the HTTP client and the webhook parser, shared by the Rasa channel and the action server."""
