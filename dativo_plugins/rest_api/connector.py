"""Base of a built-in SaaS connector: a `rest_api` reader whose resources are declarations in
code, built from the job's `source.connection` and `source.options` (see zendesk, intercom)."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from dativo_plugins.rest_api.config import HttpOptions, RestApiOptions
from dativo_plugins.rest_api.reader import RestApiReader
from dativo_workers.plugins import DeclaredObject, PluginSettings, SourceContext


class SaasReader(RestApiReader):
    """Subclasses set ``name``, ``config_model`` (an HttpOptions), ``connection_model``,
    ``objects`` (name -> primary key), and build the declarative options in ``build_options``."""

    source_list = "tables"
    objects: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, config: PluginSettings, context: SourceContext) -> None:
        super().__init__(config, context)
        self.connection: Any = self.validated_connection()

    @classmethod
    def declared_objects(cls, options: dict[str, Any]) -> list[DeclaredObject] | None:
        """Every object: a job without `source.tables` loads them all (merged by their key)."""
        return [DeclaredObject(name=name, primary_key=key) for name, key in cls.objects.items()]

    @cached_property
    def options(self) -> RestApiOptions:
        return self.build_options()

    def build_options(self) -> RestApiOptions:
        raise NotImplementedError

    def http_settings(self) -> dict[str, Any]:
        """The job's HttpOptions settings, to pass on to RestApiOptions."""
        config: HttpOptions = self.config
        return {name: getattr(config, name) for name in HttpOptions.model_fields}
