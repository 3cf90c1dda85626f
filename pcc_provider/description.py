"""One description per resource kind: its inputs, outputs and the inputs a door computes, each
a `Field` that carries its name, description, default, secret-ness, whether a change
replaces, and its validation. Both doors check inputs with it (`Description.check`), and the
schema, the reference pages, the SDKs and the Python constructors' keywords and docstrings
are written from it. No Pulumi.

A kind declares its inputs once, as a TypedDict of Python names whose annotations carry a
Field (`Annotated[pulumi.Input[str], Field("...")]`): type checkers and editors read the
TypedDict (`**args: Unpack[AgentArgs]`), everything else reads `describe(...)` of it.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pcc_provider.config import DEFAULT_REGION

# pulumi.runtime.rpc.UNKNOWN, the value of an input not known yet (tests/unit/test_description
# checks they agree): judged once known.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def snake(name: str) -> str:
    """imageUri -> image_uri; names like __provider pass through."""
    if name.startswith("_"):
        return name
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def camel(name: str) -> str:
    """image_uri -> imageUri; names like __provider pass through."""
    if name.startswith("_"):
        return name
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Door:
    """How the users of a door write what a message names: properties and literal values."""

    spell: Callable[[str], str]  # a property's schema name as the door's users write it
    true: str
    false: str
    none: str
    assigning: str  # how a program sets a property: "{name}={value}"

    def __getitem__(self, name: str) -> str:
        return self.spell(name)

    def assign(self, name: str, value: Any) -> str:
        literals = {True: self.true, False: self.false, None: self.none}
        shown = literals[value] if value in (True, False, None) else json.dumps(value)
        return self.assigning.format(name=self.spell(name), value=shown)


PYTHON = Door(snake, "True", "False", "None", "{name}={value}")
SCHEMA = Door(str, "true", "false", "null", "{name}: {value}")

# A field's validation: None, or why a value is refused, in the door's names.
Check = Callable[[Any, Door], str | None]
Derive = Callable[
    [dict[str, Any], Mapping[str, Any], Any],
    tuple[dict[str, Any], list[tuple[str, str]], list[str]],
]


@dataclass(frozen=True)
class Field:
    """One property of a kind. Declared in an Annotated type; `describe` fills in its name,
    type and whether it is required."""

    description: str
    default: Any = None
    secret: bool = False
    replaces: bool = False  # a change replaces the object
    computed: bool = False  # an output a door computes from the inputs, not the provider
    check: Check | None = None  # given a known value that is not None
    normal: Callable[[Any], Any] | None = None  # the one form both doors hand on
    setting: Any = None  # what a kind's API calls know of it (agent.Setting)
    name: str = ""  # the schema's (camelCase) name
    type: Any = None  # the annotation: the Python keyword's; for an output, X of Output[X]
    required: bool = False  # an input that must be given; an output always set
    # An internal input's change, in a per-property diff, is shown as a change of this input
    # (an agent's bound set's new revision: `~ secretSet`).
    shown_as: str = ""

    @property
    def python(self) -> str:
        return snake(self.name)

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of an object-typed property (an ObjectType's), else ()."""
        found = object_type(self.type)
        return found.fields if found is not None else ()


@dataclass(frozen=True)
class ObjectType:
    """A property whose value is an object of fields of its own (an Agent's `smoke`), declared
    as a TypedDict whose annotations carry Fields, as a kind's inputs are: Python programs call
    the TypedDict (`SmokeCheck(run_seconds=20)`), the schema has it under `types`."""

    name: str
    summary: str
    fields: tuple[Field, ...]

    @property
    def token(self) -> str:
        return f"pipecat:index:{self.name}"

    def named(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The object's keys as the schema names them (a Python program writes run_seconds)."""
        return {camel(str(k)): v for k, v in given.items()}

    def defaults(self, given: Mapping[str, Any]) -> dict[str, Any]:
        named = self.named(given)
        return {
            **named,
            **{
                f.name: f.default
                for f in self.fields
                if named.get(f.name) is None and f.default is not None
            },
        }

    def problems(self, outer: str, given: Any, door: Door) -> list[tuple[str, str]]:
        """Why an object given for property `outer` is refused, each in the door's names
        (`smoke.run_seconds`)."""
        if not isinstance(given, Mapping):
            return [(outer, f"{door[outer]} must be a {self.name} (an object), not {given!r}")]
        named = self.named(given)
        known = {f.name for f in self.fields}
        found: list[tuple[str, str]] = []
        for key in named:
            if key not in known:
                names = sorted(door[k] for k in known)
                near = difflib.get_close_matches(door[key], names, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                found.append((outer, f"{door[outer]} has no field {door[key]}{hint}"))
        inside = Door(lambda n: f"{door[outer]}.{door.spell(n)}", *_literals(door))
        for f in self.fields:
            value = named.get(f.name)
            if value is None:
                if f.required:
                    found.append((outer, f"{inside[f.name]} is required"))
            elif value != UNKNOWN and f.check is not None:
                reason = f.check(value, inside)
                if reason:
                    found.append((outer, reason))
        return found


def _literals(door: Door) -> tuple[str, str, str, str]:
    return door.true, door.false, door.none, door.assigning


def object_type(hint: Any) -> ObjectType | None:
    """The ObjectType a property's annotation names (X, X | None, Input[X]), else None."""
    candidates = [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        candidates = list(typing.get_args(hint))
    for candidate in candidates:
        if isinstance(candidate, type) and typing.is_typeddict(candidate):
            if candidate not in _object_types:  # described once: each value is checked with it
                _object_types[candidate] = _describe_object(candidate)
            return _object_types[candidate]
    return None


_object_types: dict[type, ObjectType] = {}


def _describe_object(declared: type) -> ObjectType:
    summary = (declared.__doc__ or "").strip().split("\n\n")[0]
    return ObjectType(declared.__name__, " ".join(summary.split()), _fields(declared))


@dataclass(frozen=True)
class Description:
    """A resource kind: its token's name, summary and properties. `rules`: the checks of
    several inputs together, run once each input is right on its own."""

    name: str
    summary: str
    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]
    # Inputs a door computes (not in the schema) that the state keeps for the next diff.
    internal: tuple[Field, ...] = ()
    rules: Callable[[Mapping[str, Any], Door], list[tuple[str, str]]] | None = None
    # What `pulumi import` records beside the inputs, for the next preview to compare.
    imported: tuple[str, ...] = ()
    example: Mapping[str, str] = field(default_factory=dict)  # language -> code
    provider: Any = None  # the provider class both doors serve the kind with
    # What a door adds to the checked inputs, with the sets declared in the same program and
    # the row's progress: (inputs, failures, warnings for the program's author).
    derive: Derive | None = None
    # A set a program declares for its agents to bind by name: its kind ("secret", ...).
    declares: str | None = None
    # The names an earlier version's state had for inputs now named as the schema names them.
    legacy: tuple[str, ...] = ()
    # Inputs an earlier version's state held under another name: {old name: name}.
    renamed: Mapping[str, str] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return f"pipecat:index:{self.name}"

    @property
    def replace_on(self) -> tuple[str, ...]:
        fields = (*self.inputs, *self.outputs, *self.internal)
        return tuple(dict.fromkeys(f.name for f in fields if f.replaces))

    @property
    def output_names(self) -> tuple[str, ...]:
        """What the provider returns beside the inputs."""
        given = {f.name for f in self.inputs}
        return tuple(f.name for f in self.outputs if f.name not in given and not f.computed)

    @property
    def secret(self) -> frozenset[str]:
        return frozenset(f.name for f in (*self.inputs, *self.outputs, *self.internal) if f.secret)

    def secret_in(self, props: Mapping[str, Any]) -> frozenset[str]:
        """The properties of `props` to keep secret: the secret ones, and an object holding
        a secret field (a SmokeCheck's public key), whatever form the program gave it in."""
        holding = {
            f.name
            for f in self.inputs
            if isinstance(props.get(f.name), Mapping)
            and any(sub.secret and props[f.name].get(sub.name) for sub in f.fields)
        }
        return self.secret | holding

    def current(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A state in the schema's names, also one an earlier version wrote in its own."""
        found = {camel(k) if k in self.legacy else k: v for k, v in state.items()}
        for old, new in self.renamed.items():
            if old in found:
                found.setdefault(new, found.pop(old))
        return found

    def defaults(self, given: Mapping[str, Any], region: str | None = None) -> dict[str, Any]:
        """The inputs with their defaults (the region's: `region`, else us-west), in the one
        form both doors hand on."""
        args: dict[str, Any] = {}
        for f in self.inputs:
            value = given.get(f.name)
            if value is None:
                value = f.default
            if value is None and f.name == "region":
                value = region or DEFAULT_REGION
            if f.normal is not None and value != UNKNOWN:
                value = f.normal(value)
            shape = object_type(f.type)
            if shape is not None and isinstance(value, Mapping):
                value = shape.defaults(value)
            args[f.name] = value
        return args

    def problems(self, given: Mapping[str, Any], door: Door) -> list[tuple[str, str]]:
        """(property, reason) for each input refused, in the door's names. A value not known
        yet (UNKNOWN) counts as given, and is judged once known."""
        found: list[tuple[str, str]] = []
        for f in self.inputs:
            value = given.get(f.name)
            if value is None:
                if f.required:
                    found.append((f.name, f"{door[f.name]} is required"))
            elif value != UNKNOWN and (shape := object_type(f.type)) is not None:
                found += shape.problems(f.name, value, door)
            elif value != UNKNOWN and f.check is not None:
                reason = f.check(value, door)
                if reason:
                    found.append((f.name, reason))
        if not found and self.rules is not None:
            found += self.rules(given, door)
        return found

    def check(
        self, given: Mapping[str, Any], door: Door, region: str | None = None
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """A program's inputs with their defaults, and what is wrong with them (the native door
        runs the same two steps around what the kind derives: server.Door.check)."""
        args = {**self.defaults(given, region)}
        args.update({f.name: given[f.name] for f in self.internal if f.name in given})
        return args, self.problems(args, door)

    def unknown(self, given: Mapping[str, Any], door: Door) -> str | None:
        """Why a keyword a Python program gave is not one of this kind's, or None."""
        names = {door[f.name] for f in self.inputs}
        for name in given:
            if name not in names:
                near = difflib.get_close_matches(name, sorted(names), n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                return f"unknown keyword {name}{hint}"
        return None


def describe(
    name: str,
    args: type,
    resource: type,
    *,
    internal: tuple[Field, ...] = (),
    rules: Callable[[Mapping[str, Any], Door], list[tuple[str, str]]] | None = None,
    imported: tuple[str, ...] = (),
    example: Mapping[str, str] | None = None,
    provider: Any = None,
    derive: Derive | None = None,
    declares: str | None = None,
    legacy: tuple[str, ...] = (),
    renamed: Mapping[str, str] | None = None,
) -> Description:
    """The description of a kind from its inputs' TypedDict (`args`) and its resource class,
    whose own annotations are its outputs: `Annotated[pulumi.Output[X], "description"]`
    (or a Field). The summary is the first paragraph of the class's docstring. `provider`:
    the class both doors serve the kind with; it is given the description."""
    inputs = _fields(args)
    outputs = []
    for key, hint in _annotations(resource).items():
        declared, *meta = typing.get_args(hint) if _annotated(hint) else (hint, "")
        given = meta[0] if isinstance(meta[0], Field) else Field(str(meta[0]))
        # A resource's Output[X] is X; a function's result declares X itself.
        (inner,) = typing.get_args(declared)[:1] if _output(declared) else (declared,)
        always = type(None) not in typing.get_args(inner)
        outputs.append(replace(given, name=camel(key), type=inner, required=always))
    summary = (resource.__doc__ or "").strip().split("\n\n")[0]
    described = Description(
        name,
        " ".join(summary.split()),
        inputs,
        tuple(outputs),
        internal,
        rules,
        imported,
        dict(example or {}),
        provider,
        derive,
        declares,
        legacy,
        dict(renamed or {}),
    )
    if provider is not None:
        provider.description = described
    return described


def _fields(args: type) -> tuple[Field, ...]:
    """The Fields of a TypedDict's keys, with their names, types and whether required."""
    found = []
    for key, hint in _annotations(args).items():
        required = typing.get_origin(hint) is typing.Required
        if required or typing.get_origin(hint) is typing.NotRequired:
            (hint,) = typing.get_args(hint)
        declared, *meta = typing.get_args(hint) if _annotated(hint) else (hint,)
        given = next((m for m in meta if isinstance(m, Field)), Field(""))
        found.append(replace(given, name=camel(key), type=declared, required=required))
    return tuple(found)


def _output(hint: Any) -> bool:
    """pulumi.Output[X], told without importing Pulumi."""
    return getattr(typing.get_origin(hint), "__name__", None) == "Output"


def _annotated(hint: Any) -> bool:
    return typing.get_origin(hint) is typing.Annotated


def _annotations(owner: type) -> dict[str, Any]:
    """owner's own annotations, evaluated in its module. Not typing.get_type_hints: it fails
    on pulumi.Input, whose Output[X] member is a forward reference it cannot resolve."""
    module = vars(sys.modules[owner.__module__])
    own = vars(owner).get("__annotations__", {})
    found = {}
    for name, text in own.items():
        where = module
        if isinstance(text, typing.ForwardRef):  # a TypedDict's, under `from __future__`
            # A key a TypedDict inherits is read where it was declared.
            defined = getattr(text, "__forward_module__", None)
            where = vars(sys.modules[defined]) if defined else module
            text = text.__forward_arg__
        found[name] = eval(text, where) if isinstance(text, str) else text
    return found


# -- checks more than one kind uses ------------------------------------------------------------


def region_problem(region: Any, door: Door) -> str | None:
    """An empty region, which every Pipecat Cloud call would refuse."""
    if not isinstance(region, str) or region.strip():
        return None
    return (
        f"{door['region']} is empty: pass {door.assign('region', DEFAULT_REGION)} (or another "
        "region) or run `pulumi config set pipecat:region us-west`"
    )


def positive_seconds(name: str) -> Check:
    """A timeout: a positive number of seconds."""

    def check(value: Any, door: Door) -> str | None:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return None
        return f"{door[name]} must be a positive number of seconds, not {value!r}"

    return check


def flag(name: str) -> Check:
    def check(value: Any, door: Door) -> str | None:
        if isinstance(value, bool):
            return None
        return f"{door[name]} must be {door.true} or {door.false}"

    return check


# -- what Python's help() and inspect show of a resource class ----------------------------------


class _Shown:
    """A resource class's `__doc__` or `__signature__`, written from its module's DESCRIPTION
    when asked: the keywords `**args` takes, with their descriptions and defaults."""

    def __init__(self, what: str, summary: str) -> None:
        self.what, self.summary = what, summary

    def __get__(self, obj: Any, owner: type) -> Any:
        described = description_of(owner)
        if self.what == "signature":
            return signature(described)
        return docstring(self.summary, described)


def present(cls: type, attribute: str = "DESCRIPTION") -> None:
    """Give `cls` the docstring and signature of its kind's description, the module's
    `attribute` (read when asked: a test may put another in its place)."""
    summary = cls.__doc__ or ""
    cls._described_by = attribute  # type: ignore[attr-defined]
    cls.__doc__ = _Shown("doc", summary)  # type: ignore[assignment]
    cls.__signature__ = _Shown("signature", summary)  # type: ignore[attr-defined]


def description_of(cls: type) -> Description:
    found: Description = vars(sys.modules[cls.__module__])[cls._described_by]  # type: ignore[attr-defined]
    return found


def signature(described: Description) -> Any:
    """The constructor's signature: resource_name, then each input by its Python name."""
    import inspect

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("resource_name", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for f in described.inputs:
        default = f.default if f.default is not None or not f.required else inspect.Parameter.empty
        params.append(inspect.Parameter(f.python, keyword, default=default, annotation=f.type))
    params.append(inspect.Parameter("opts", keyword, default=None))
    return inspect.Signature(params)


def docstring(summary: str, described: Description) -> str:
    lines = [f":param {f.python}: {f.description}" for f in described.inputs]
    return summary.rstrip() + "\n\n    " + "\n    ".join(lines) + "\n"
