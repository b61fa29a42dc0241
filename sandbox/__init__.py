"""GREEN-API sandbox: a local GREEN-API-compatible server plus a chat page.

Run it with ``python -m sandbox`` or build it in-process::

    from sandbox import SandboxConfig, create_app
    app = create_app(SandboxConfig(port=7700, webhook_url="http://127.0.0.1:5005/webhooks/greenapi/webhook"))
"""
from .server import SANDBOX_KEY, Sandbox, SandboxConfig, create_app, get_sandbox

__all__ = ["SANDBOX_KEY", "Sandbox", "SandboxConfig", "create_app", "get_sandbox"]
