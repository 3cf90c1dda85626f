"""Functions (Pulumi's data sources): reads of what exists in Pipecat Cloud, whoever made it.

A function is described once, as a resource is (pcc_provider.description): its arguments are
a TypedDict of Annotated `Field`s, its result a dataclass whose annotations carry each
field's description, and `read` asks Pipecat Cloud. From the description come the schema's
`functions` (so `fn::invoke` in YAML and the generated TypeScript and Go SDKs), the reference
page, the native plugin's Invoke, and the Python forms Pulumi's SDKs give a function:

    agent = get_agent(service_name="bot")                   # plain values, a typed result
    agent = get_agent_output(service_name=bot.service_name)  # Inputs, an Output of it

A function reads and never owns or changes anything. A missing object is an error of one
line that names it, as the lookups of Pulumi's own providers fail ("no matching ..."), rather
than a null result a program would only trip over later. The Python forms run in the program
(the API key read from the stack config or PIPECAT_API_KEY, as the resources' providers read
it), so they need no plugin; the native door runs the same `read` in the plugin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pcc_provider import api
from pcc_provider.config import ProviderConfig, Setting
from pcc_provider.description import PYTHON, Description, Door, camel, describe, snake
from pcc_provider.errors import PipecatError

if TYPE_CHECKING:
    import pulumi

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")  # a function's result class
# How a function asks Pipecat Cloud: the checked arguments (schema names), the door whose
# names its messages use; the result by the schema's names.
Read = Callable[[api.Client, Mapping[str, Any], Door], dict[str, Any]]


class FunctionError(PipecatError):
    """A function that could not read what it was asked for; str() is one line."""


class Missing(PipecatError):
    """What a function was asked for does not exist; str() names it."""


@dataclass(frozen=True)
class Function(Generic[R]):
    """One function: its description (name, summary, arguments as `inputs`, result fields as
    `outputs`, example), how it reads, and the Python class of its result."""

    described: Description
    read: Read
    result: type[R]

    @property
    def name(self) -> str:
        return self.described.name

    @property
    def token(self) -> str:
        return self.described.token

    def call(self, config: ProviderConfig, given: Mapping[str, Any], door: Door) -> dict[str, Any]:
        """The result, by the schema's names, of the function called with `given` (schema
        names); FunctionError in one line, in the door's names, for bad arguments or a
        failed read."""
        args, failures = self.described.check(dict(given), door, config.region)
        problem = failures[0][1] if failures else config.problem()
        if problem:
            raise FunctionError(f"{door[self.name]}: {problem}")
        try:
            with client(config) as reader:
                found = self.read(reader, args, door)
        except (api.ApiError, Missing) as exc:
            raise FunctionError(f"{door[self.name]}: {exc}") from None
        return {f.name: found.get(f.name) for f in self.described.outputs}

    # -- the Python door ------------------------------------------------------------------

    def typed(self, found: Mapping[str, Any]) -> R:
        return self.result(**{snake(k): v for k, v in found.items()})

    def plain(self, given: Mapping[str, Any]) -> R:
        """The plain form's work: Python keywords in, the typed result out."""
        import pulumi

        door = PYTHON
        unknown = self.described.unknown(given, door)
        if unknown:
            raise pulumi.RunError(f"{door[self.name]}: {unknown}")
        if any(isinstance(v, pulumi.Output) for v in given.values()):
            raise pulumi.RunError(
                f"{door[self.name]} takes plain values: pass Outputs to "
                f"{door[self.name]}_output, which answers an Output"
            )
        config = ProviderConfig.read(in_program(pulumi.Config("pipecat")))
        try:
            return self.typed(self.call(config, {camel(k): v for k, v in given.items()}, door))
        except FunctionError as exc:
            raise pulumi.RunError(str(exc)) from None

    def output(self, given: Mapping[str, Any]) -> pulumi.Output[R]:
        """The Output form's work: Inputs in, an Output of the typed result out. As with
        Pulumi's own invokes, it reads once every input is known and the resources they come
        from exist (an agent this `up` creates is read after it is created); in a preview
        that creates them the result is unknown. Secret when an input is."""
        import pulumi

        unknown = self.described.unknown(given, PYTHON)
        if unknown:
            raise pulumi.RunError(f"{PYTHON[self.name]}_output: {unknown}")
        inputs = pulumi.Output.from_input(dict(given))

        async def ids() -> list[Any]:
            found = await inputs.resources()
            return [r.id for r in found if isinstance(r, pulumi.CustomResource)]

        # Known once each of those resources has its id: not in a preview that creates it.
        def each_id(found: list[Any]) -> Any:
            return pulumi.Output.all(*found)

        listed: pulumi.Output[list[Any]] = pulumi.Output.from_input(ids())
        made = listed.apply(each_id)
        # The read blocks on HTTP: off the program's event loop.
        return pulumi.Output.all(inputs, made).apply(
            lambda both: asyncio.to_thread(self.plain, both[0])
        )

    def shown(self, form: F) -> F:
        """`form` (get_agent, get_agent_output), with the arguments of the description in
        `help()` and `inspect`, as a resource's constructor has them (description.present)."""
        keyword = inspect.Parameter.KEYWORD_ONLY
        params = [
            inspect.Parameter(
                f.python,
                keyword,
                default=inspect.Parameter.empty if f.required else f.default,
                annotation=f.type,
            )
            for f in self.described.inputs
        ]
        params.append(inspect.Parameter("opts", keyword, default=None))
        returns = inspect.signature(form).return_annotation
        lines = [f":param {f.python}: {f.description}" for f in self.described.inputs]
        form.__doc__ = self.described.summary + "\n\n" + "\n".join(lines)
        form.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
        return form


def describe_function(
    name: str,
    args: type,
    result: type[R],
    read: Read,
    *,
    example: Mapping[str, str] | None = None,
    rules: Callable[[Mapping[str, Any], Door], list[tuple[str, str]]] | None = None,
) -> Function[R]:
    """A function from its arguments' TypedDict and its result dataclass (whose docstring's
    first paragraph is the function's summary, and whose annotations are
    `Annotated[X, "description"]`: X | None may be unset, any other is always there)."""
    if not dataclasses.is_dataclass(result):
        raise TypeError(f"{result.__name__} must be a dataclass")
    return Function(describe(name, args, result, rules=rules, example=example), read, result)


def in_program(config: Any) -> Callable[[Setting], Any]:
    """The settings as a program's stack config holds them, the key in plain text: the plain
    form must call Pipecat Cloud now, and the key goes nowhere but the request's header."""
    return lambda s: config.get(s.name)


def client(config: ProviderConfig) -> api.Client:
    """A client for a function's reads (a refused key's message names both places a key
    may come from: api.REFUSED)."""
    return api.Client(config.api_key, config.api_url, organization=config.organization)
