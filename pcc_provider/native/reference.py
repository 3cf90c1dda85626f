"""Reference pages, one per resource, written from the `pipecat` schema (docs/reference/).

`python -m pcc_provider.native.reference OUT` writes them; `scripts/generate-sdks --check`
(run by the tests) fails when the committed pages differ from what the schema gives, so a
page cannot drift from the resources it describes. Each page lists the inputs (Python and
schema names, type, default, whether required or secret), the outputs, and one example in
Python, YAML and TypeScript.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pcc_provider import functions_profiles
from pcc_provider.description import snake
from pcc_provider.kinds import functions, native
from pcc_provider.native.schema import schema


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        ref = str(spec["$ref"])
        return ref.rsplit(":", 1)[1] if ref.startswith("#/types/") else "any"
    kind = str(spec.get("type", "any"))
    if kind == "array":
        return f"list of {_type(spec.get('items') or {})}"
    if kind == "object" and "additionalProperties" in spec:
        return f"map of {_type(spec['additionalProperties'])}"
    return kind


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def _row(name: str, spec: dict[str, Any], required: bool, python: bool = True) -> str:
    notes = []
    if required:
        notes.append("required")
    if "default" in spec:
        notes.append(f"default `{json.dumps(spec['default'])}`")
    if spec.get("secret"):
        notes.append("secret")
    names = f"`{name}` / `{snake(name)}`" if python and snake(name) != name else f"`{name}`"
    return (
        f"| {names} | {_type(spec)} | {', '.join(notes)} | {_cell(spec.get('description', ''))} |"
    )


def _top(name: str, spec: dict[str, Any], where: list[str], example: Any) -> list[str]:
    """A page's title, description, where it is in each language, and its example."""
    lines = [
        f"# {name}",
        "",
        "<!-- Written by `python -m pcc_provider.native.reference` from the pipecat schema: "
        "do not edit by hand (`make sdk`). -->",
        "",
        _cell(spec.get("description", "")),
        "",
        *where,
        "",
        "## Example",
        "",
    ]
    for language, title in (("python", "Python"), ("yaml", "YAML"), ("typescript", "TypeScript")):
        lines += [f"{title}:", "", f"```{language}", example[language], "```", ""]
    return lines


def page(token: str, resource: dict[str, Any], types: dict[str, Any] | None = None) -> str:
    name = token.rsplit(":", 1)[1]
    (example,) = [d.example for d in native() if d.token == token]
    inputs: dict[str, Any] = resource.get("inputProperties", {})
    required = set(resource.get("requiredInputs", []))
    outputs = {k: v for k, v in resource.get("properties", {}).items() if k not in inputs}
    where = (
        f"Python: `pcc_provider.{name}`. Other languages: `{token}` (native provider `pipecat`)."
    )
    lines = _top(name, resource, [where], example)
    lines += [
        "## Inputs",
        "",
        "| name (schema / Python) | type | | description |",
        "|---|---|---|---|",
        *(_row(k, v, k in required) for k, v in inputs.items()),
        "",
        "## Outputs",
        "",
        "Every input, and:",
        "",
        "| name (schema / Python) | type | | description |",
        "|---|---|---|---|",
        *(_row(k, v, False) for k, v in outputs.items()),
        "",
    ]
    used = {str(v.get("$ref", "")).removeprefix("#/types/") for v in inputs.values()}
    for type_token, shape in sorted((types or {}).items()):
        if type_token in used:
            fields = shape.get("properties", {})
            lines += [
                f"## {type_token.rsplit(':', 1)[1]}",
                "",
                _cell(shape.get("description", "")),
                "",
                "| name (schema / Python) | type | | description |",
                "|---|---|---|---|",
                *(_row(k, v, k in shape.get("required", [])) for k, v in fields.items()),
                "",
            ]
    return "\n".join(lines)


def function_page(token: str, function: dict[str, Any]) -> str:
    """A function's page: its arguments and its result's fields, with an example."""
    name = token.rsplit(":", 1)[1]
    described = [f.described.example for f in functions() if f.token == token]
    # getAgentProfiles predates the described functions: its example is its module's.
    (example,) = described or [functions_profiles.EXAMPLE]
    inputs = function.get("inputs", {"properties": {}, "required": []})
    outputs = function["outputs"]
    where = [
        f"Python: `pcc_provider.{snake(name)}` and `pcc_provider.{snake(name)}_output`. "
        f"Other languages: `{token}` (native provider `pipecat`; `fn::invoke` in YAML).",
        "It reads and owns nothing; what it does not find fails in one line that names it.",
    ]
    lines = _top(name, function, where, example)
    required = set(inputs.get("required", []))
    lines += [
        "## Arguments",
        "",
        "| name (schema / Python) | type | | description |",
        "|---|---|---|---|",
        *(_row(k, v, k in required) for k, v in inputs["properties"].items()),
        "",
        "## Result",
        "",
        "| name (schema / Python) | type | | description |",
        "|---|---|---|---|",
        *(_row(k, v, False) for k, v in outputs["properties"].items()),
        "",
    ]
    return "\n".join(lines)


def deployment_page() -> str:
    """The Deployment component's page (Python only): its arguments, its outputs, and each key
    of pcc-deploy.toml with the Agent keyword it sets, from the file's schema."""
    from pcc_provider import deployment

    rows = []
    for key in deployment.SCHEMA:
        if key.refused:
            sets = f"refused: {key.refused}"
        elif key.keyword:
            sets = f"`{key.keyword}` (Agent)"
        elif key.path[0] == "build":
            sets = "the `Build` of a cloud build"
        elif key.path[0] == "docker":
            sets = "checked, then ignored (`pcc docker build-push` reads it, not `pcc deploy`)"
        else:
            sets = f"part of `{key.path[0]}`"
        rows.append(f"| `{key.name}` | {key.kind.name} | {_cell(sets)} |")
    summary = " ".join((deployment.Deployment.__doc__ or "").split("\n\n")[0].split())
    return "\n".join(
        [
            "# Deployment",
            "",
            "<!-- Written by `python -m pcc_provider.native.reference` from "
            "pcc_provider.deployment: do not edit by hand (`make sdk`). -->",
            "",
            _cell(summary),
            "",
            "Python only: `pcc_provider.Deployment`, a component of a `Build` (when the file asks "
            "for a cloud build) and an [Agent](agent.md). Other languages declare those two.",
            "",
            "## Example",
            "",
            "```python",
            "import pulumi",
            "from pcc_provider import Deployment",
            "",
            'bot = Deployment("bot", config_file="pcc-deploy.toml", min_agents=1)',
            'pulumi.export("image", bot.image_uri)',
            "```",
            "",
            "## Arguments",
            "",
            "| name | type | | description |",
            "|---|---|---|---|",
            '| `config_file` | path | default `"pcc-deploy.toml"` | The file, read as '
            "pipecatcloud 1.4.0 reads it; paths in it are relative to its folder. |",
            "| any [Agent](agent.md) keyword | | | Overrides the file's setting "
            "(`adopt_existing=True`, `deploy_timeout`, `smoke`, ...). |",
            "",
            "## Outputs",
            "",
            "| name | type | description |",
            "|---|---|---|",
            "| `agent` | Agent | The agent. |",
            "| `build` | Build or None | The cloud build, when the file names neither `image` "
            "nor `build_id`. |",
            "| `image_uri` | string | The image the agent runs. |",
            "| `service_name` | string | The agent's name. |",
            "",
            "## pcc-deploy.toml keys",
            "",
            "| key | type | what it sets |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def _file(token: str) -> str:
    return f"{snake(token.rsplit(':', 1)[1]).replace('_', '-')}.md"


def pages() -> dict[str, str]:
    """File name -> Markdown, for every resource and function of the schema, and an index."""
    spec = schema()
    written = {
        _file(token): page(token, resource, spec["types"])
        for token, resource in spec["resources"].items()
    }
    written.update(
        {_file(token): function_page(token, f) for token, f in spec["functions"].items()}
    )
    written["deployment.md"] = deployment_page()
    config = spec["provider"]["inputProperties"]
    index = [
        "# pipecat reference",
        "",
        "<!-- Written by `python -m pcc_provider.native.reference`: do not edit by hand. -->",
        "",
        f"Package `{spec['name']}` {spec['version']}: {spec['description']}.",
        "",
        *(f"- [{name.removesuffix('.md')}]({name})" for name in sorted(written)),
        "",
        "## Provider configuration",
        "",
        "| name | type | | description |",
        "|---|---|---|---|",
        *(_row(f"pipecat:{k}", v, False, python=False) for k, v in config.items()),
        "",
    ]
    return {**written, "README.md": "\n".join(index)}


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in pages().items():
        (folder / name).write_text(text)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
