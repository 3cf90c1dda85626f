"""The `pipecat` package schema, written from the kinds' descriptions (pcc_provider.kinds,
pcc_provider.description): each input and output with its camelCase name, type, description,
default and secret-ness, as both doors use them."""

from __future__ import annotations

import types
import typing
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import pulumi

import pcc_provider
from pcc_provider import config, functions_profiles
from pcc_provider.description import Description, Field, ObjectType, object_type
from pcc_provider.kinds import functions, native

PACKAGE = "pipecat"
REPOSITORY = "https://github.com/pcc-provider/pcc-provider"
PLUGIN_DOWNLOAD_URL = "github://api.github.com/pcc-provider/pcc-provider"

# The config keys both doors read, as pcc_provider.config declares them.
CONFIG: dict[str, dict[str, Any]] = config.schema()


def resource(described: Description) -> dict[str, Any]:
    """A resource of the schema: inputs, then the properties of its state."""
    ins = {f.name: _property(f) for f in described.inputs}
    # An output that is also an input is described as the state has it.
    properties = {**ins, **{f.name: _property(f) for f in described.outputs}}
    required = [f.name for f in described.inputs if f.required]
    return {
        "description": described.summary,
        "inputProperties": ins,
        "requiredInputs": required,
        "properties": properties,
        "required": sorted({*required, *(f.name for f in described.outputs if f.required)}),
    }


def function(described: Description) -> dict[str, Any]:
    """A function of the schema: its arguments and its result's fields."""

    def object_type(fields: tuple[Field, ...]) -> dict[str, Any]:
        return {
            "properties": {f.name: _property(f) for f in fields},
            "required": sorted(f.name for f in fields if f.required),
        }

    spec: dict[str, Any] = {"description": described.summary}
    if described.inputs:
        spec["inputs"] = object_type(described.inputs)
    spec["outputs"] = object_type(described.outputs)
    return spec


def _property(f: Field) -> dict[str, Any]:
    spec = {**_type_spec(f.type), "description": f.description}
    if f.default is not None:
        spec["default"] = f.default
    if f.secret:
        spec["secret"] = True
    return spec


def schema(version: str = pcc_provider.__version__) -> dict[str, Any]:
    resources = {described.token: resource(described) for described in native()}
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
        "functions": {
            **{f.token: function(f.described) for f in functions()},
            **functions_profiles.FUNCTIONS,
        },
        "types": {**functions_profiles.TYPES, **object_types()},
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


def object_types() -> dict[str, Any]:
    """The object types the resources' inputs use (an Agent's SmokeCheck), by token."""
    found: dict[str, ObjectType] = {}
    for described in native():
        for f in described.inputs:
            if (shape := object_type(f.type)) is not None:
                found[shape.token] = shape
    return {
        token: {
            "type": "object",
            "description": shape.summary,
            "properties": {f.name: _property(f) for f in shape.fields},
            "required": sorted(f.name for f in shape.fields if f.required),
        }
        for token, shape in found.items()
    }


def _type_spec(hint: Any) -> dict[str, Any]:
    """A Python annotation as a schema type.

    Optional[X] is X (no input is required by the schema unless the constructor requires
    it); pulumi.Input[X] is X; a resource given in place of its name (SecretSet for
    secret_set) is the name; Any is Pulumi's Any."""
    if hint is Any:
        return {"$ref": "pulumi.json#/Any"}
    if (shape := object_type(hint)) is not None:
        return {"$ref": f"#/types/{shape.token}"}
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


def _wrapper(hint: Any) -> bool:
    """Awaitable[X] and Output[X] (a forward reference in pulumi.Input): what Input adds."""
    return (
        typing.get_origin(hint) in (Awaitable, pulumi.Output)
        or hint is pulumi.Output
        or isinstance(hint, typing.ForwardRef)
    )


def _is_resource(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, pulumi.Resource)
