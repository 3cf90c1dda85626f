"""The `pipecat` package schema, generated from the Python resource classes.

A resource's inputs are the keyword parameters of its Python constructor and its outputs
the class's `pulumi.Output` annotations, both in the API's camelCase names (the names the
dynamic resources already use on the wire and in the state). Nothing is listed twice, so
a new parameter or output in Python appears in the schema by itself.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

import pcc_provider
from pcc_provider import config
from pcc_provider.agent import Agent
from pcc_provider.build import Build
from pcc_provider.resource import camel
from pcc_provider.secrets import ImagePullSecret, SecretSet

PACKAGE = "pipecat"
REPOSITORY = "https://github.com/pcc-provider/pcc-provider"
PLUGIN_DOWNLOAD_URL = "github://api.github.com/pcc-provider/pcc-provider"

# The config keys both doors read, as pcc_provider.config declares them.
CONFIG: dict[str, dict[str, Any]] = config.schema()


@dataclass(frozen=True)
class ResourceKind:
    """One resource of the package: its token and the Python class that defines it."""

    name: str
    cls: type[pulumi.CustomResource]
    # Properties that are always secret (the SecretSet class keeps them so in Python).
    secret: tuple[str, ...] = ()

    @property
    def token(self) -> str:
        return f"{PACKAGE}:index:{self.name}"


RESOURCES = (
    ResourceKind("Build", Build),
    ResourceKind("Agent", Agent),
    ResourceKind("SecretSet", SecretSet, secret=("secrets", "revision")),
    ResourceKind("ImagePullSecret", ImagePullSecret, secret=("password", "revision")),
)


def kind(token: str) -> ResourceKind:
    (found,) = [k for k in RESOURCES if k.token == token]
    return found


def inputs(cls: type) -> dict[str, dict[str, Any]]:
    """camelCase input name -> schema property, from the constructor's keyword parameters."""
    hints = _annotations(cls.__init__, cls)  # type: ignore[misc]
    docs = _param_docs(cls.__doc__ or "")
    found: dict[str, dict[str, Any]] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():  # type: ignore[misc]
        if param.kind is not inspect.Parameter.KEYWORD_ONLY or name == "opts":
            continue
        spec = _type_spec(hints[name])
        if name in docs:
            spec["description"] = docs[name]
        if param.default is not inspect.Parameter.empty and param.default is not None:
            spec["default"] = param.default
        found[camel(name)] = spec
    return found


def required_inputs(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    return [
        camel(p.name)
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY
        and p.name != "opts"
        and p.default is inspect.Parameter.empty
    ]


def outputs(cls: type) -> dict[str, dict[str, Any]]:
    """camelCase output name -> schema property, from the class's Output annotations:
    `Annotated[pulumi.Output[X], "description"]`."""
    found: dict[str, dict[str, Any]] = {}
    for name, (inner, description) in _output_hints(cls).items():
        found[camel(name)] = {**_type_spec(inner), "description": description}
    return found


def required_outputs(cls: type) -> list[str]:
    """The outputs a resource always has: those not typed `Output[X | None]`."""
    return [
        camel(name)
        for name, (inner, _) in _output_hints(cls).items()
        if type(None) not in typing.get_args(inner)
    ]


def _output_hints(cls: type) -> dict[str, tuple[Any, str]]:
    """Python output name -> (X of its Output[X], description)."""
    # The class's own annotations: the SDK's base classes annotate things that are not outputs.
    found: dict[str, tuple[Any, str]] = {}
    for name, hint in _annotations(cls, cls).items():
        description = ""
        if typing.get_origin(hint) is typing.Annotated:
            hint, description = typing.get_args(hint)[:2]
        if typing.get_origin(hint) is pulumi.Output:
            found[name] = (typing.get_args(hint)[0], description)
    return found


def schema(version: str = pcc_provider.__version__) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for kind in RESOURCES:
        ins, outs = inputs(kind.cls), outputs(kind.cls)
        for name in kind.secret:
            for table in (ins, outs):
                if name in table:
                    table[name]["secret"] = True
        properties = {**ins, **outs}
        resources[kind.token] = {
            "description": (kind.cls.__doc__ or "").strip().split("\n\n")[0],
            "inputProperties": ins,
            "requiredInputs": required_inputs(kind.cls),
            "properties": properties,
            "required": sorted({*required_inputs(kind.cls), *required_outputs(kind.cls)}),
        }
    return {
        "name": PACKAGE,
        "displayName": "Pipecat Cloud",
        "version": version,
        "description": "Pipecat Cloud builds and agents (pcc-provider's native provider)",
        "license": "Apache-2.0",
        "publisher": "pcc-provider",
        "repository": REPOSITORY,
        # Where the engine fetches the plugin on first use: the GitHub release of this
        # version, asset pulumi-resource-pipecat-v<version>-<os>-<arch>.tar.gz. The SDKs
        # carry it into every resource they register.
        "pluginDownloadURL": PLUGIN_DOWNLOAD_URL,
        "config": {"variables": CONFIG},
        "provider": {"inputProperties": CONFIG},
        "resources": resources,
        # The SDK generators (`pulumi package gen-sdk` or pkg/v3/codegen) need these, or the
        # SDKs come out without a version and cannot find the plugin.
        "language": {
            "python": {"packageName": "pulumi_pipecat", "respectSchemaVersion": True},
            "nodejs": {"packageName": "@pcc-provider/pipecat", "respectSchemaVersion": True},
            "go": {
                "importBasePath": "github.com/pcc-provider/pcc-provider/sdk/go/pipecat",
                "respectSchemaVersion": True,
            },
        },
    }


def _type_spec(hint: Any) -> dict[str, Any]:
    """A Python annotation as a schema type.

    Optional[X] is X (no input is required by the schema unless the constructor requires
    it); pulumi.Input[X] is X; a resource given in place of its name (SecretSet for
    secret_set) is the name; Any is Pulumi's Any."""
    if hint is Any:
        return {"$ref": "pulumi.json#/Any"}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None) and not _wrapper(a)]
        plain_types = [a for a in args if not _is_resource(a)]
        if len({repr(a) for a in plain_types}) == 1:
            return _type_spec(plain_types[0])
    if typing.get_origin(hint) in (Mapping, dict):
        return {"type": "object", "additionalProperties": _type_spec(typing.get_args(hint)[1])}
    if typing.get_origin(hint) in (Sequence, list, tuple) or hint in (list, tuple):
        (item,) = typing.get_args(hint)[:1] or (str,)
        return {"type": "array", "items": _type_spec(item)}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no schema type for {hint!r}: extend pcc_provider.native.schema")


def _annotations(owner: Any, cls: type) -> dict[str, Any]:
    """owner's own annotations, evaluated in cls's module. Not typing.get_type_hints: it
    fails on pulumi.Input, whose Output[X] member is a forward reference it cannot resolve."""
    module = vars(sys.modules[cls.__module__])
    # A class's own (vars): not those of the SDK's base classes. A function's: its attribute.
    own = (
        vars(owner).get("__annotations__", {}) if isinstance(owner, type) else owner.__annotations__
    )
    return {
        name: eval(text, module) if isinstance(text, str) else text for name, text in own.items()
    }


def _wrapper(hint: Any) -> bool:
    """Awaitable[X] and Output[X] (a forward reference in pulumi.Input): what Input adds."""
    return (
        typing.get_origin(hint) in (Awaitable, pulumi.Output)
        or hint is pulumi.Output
        or isinstance(hint, typing.ForwardRef)
    )


def _is_resource(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, pulumi.Resource)


def _param_docs(doc: str) -> dict[str, str]:
    """`:param name: text` entries of a docstring (continuation lines joined)."""
    found: dict[str, str] = {}
    for match in re.finditer(r":param ([\w, ]+): (.*?)(?=\n\s*:param |\n\s*\n|\Z)", doc, re.S):
        for name in match[1].split(","):  # `:param min_agents, max_agents: ...`
            found[name.strip()] = " ".join(match[2].split())
    return found
