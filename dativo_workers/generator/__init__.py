"""`dativo generate`: write a working job and its ODCS asset from what a source really holds.

``asker`` asks (flags, terminal or defaults), ``source`` learns about the source through the
plugin API, ``documents`` builds and writes the YAML, ``wizard`` puts the questions in order.
"""

from __future__ import annotations

from dativo_workers.generator.asker import Asker, GenerateError, Invalid
from dativo_workers.generator.wizard import Request, generate_asset, generate_job

__all__ = ["Asker", "GenerateError", "Invalid", "Request", "generate_asset", "generate_job"]
