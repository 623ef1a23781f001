"""tidelake: a self-hosted streaming analytics platform with AWS-compatible APIs."""
from tidelake.config import Settings
from tidelake.errors import TidelakeError

__version__ = "0.1.0"

__all__ = ["Platform", "Settings", "TidelakeError", "__version__"]


def __getattr__(name: str):
    # Platform pulls in every service: import it only when asked for.
    if name == "Platform":
        from tidelake.platform import Platform
        return Platform
    raise AttributeError(name)
