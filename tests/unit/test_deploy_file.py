"""pcc-deploy.toml checked as pcc 1.4.0 reads it, by type, at every level, before anything runs:
one line naming the key and its line (issue 29, item 4), and pcc's own loader as the oracle."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from pcc_provider.deployment import (
    DeployFileError,
    Deployment,
    line_of,
    override_problem,
    read_deploy_file,
)

NAME = 'agent_name = "bot"\n'

# The issue's files: each was a traceback or was misread before. (the file, the one line
# after "<path>:", from the key's line number on).
ISSUE = {
    "scaling_not_a_table": (NAME + "scaling = 5\n", "2: scaling must be a table, not 5"),
    "build_not_a_table": (NAME + 'build = "app"\n', '2: build must be a table, not "app"'),
    "context_dir_a_number": (
        NAME + "[build]\ncontext_dir = 5\n",
        "3: [build] context_dir must be a string, not 5",
    ),
    "image_an_array": (NAME + 'image = ["a"]\n', "2: image must be a string, not an array"),
    "min_agents_misspelt": (
        NAME + "[scaling]\nmin_agnets = 1\n",
        "3: unknown key [scaling] min_agnets (did you mean min_agents?)",
    ),
    "audio_filter_misspelt": (
        NAME + '[krisp_viva]\naudio_filtr = "tel"\n',
        "3: unknown key [krisp_viva] audio_filtr (did you mean audio_filter?)",
    ),
    "patterns_a_string": (
        NAME + '[build.exclude]\npatterns = "abc"\n',
        '3: [build.exclude] patterns must be an array of strings, not "abc"',
    ),
    "min_agents_a_fraction": (
        NAME + "[scaling]\nmin_agents = 1.5\n",
        "3: [scaling] min_agents must be an integer, not 1.5",
    ),
    "agent_name_a_number": ("agent_name = 123\n", "1: agent_name must be a string, not 123"),
    "context_dir_misspelt": (
        NAME + '[build]\ncontext_dirr = "app"\n',
        "3: unknown key [build] context_dirr (did you mean context_dir?)",
    ),
}

# More of the same rules: kinds, limits, keys in the wrong table, keys together, layouts.
# (the file, the start of the one line: from the line number on, or the message alone).
MORE = {
    "min_agents_true": (
        NAME + "[scaling]\nmin_agents = true\n",
        "3: [scaling] min_agents must be an integer, not true",
    ),
    "min_agents_a_whole_float": (
        NAME + "[scaling]\nmin_agents = 2.0\n",
        "3: [scaling] min_agents must be an integer, not 2.0",
    ),
    "min_agents_negative": (
        NAME + "[scaling]\nmin_agents = -1\n",
        "3: [scaling] min_agents must be 0 or more, not -1",
    ),
    "max_agents_zero": (
        NAME + "[scaling]\nmax_agents = 0\n",
        "3: [scaling] max_agents must be 1 or more, not 0",
    ),
    "max_below_min": (
        NAME + "[scaling]\nmin_agents = 3\nmax_agents = 2\n",
        "4: [scaling] max_agents must be at least min_agents (3), not 2",
    ),
    "session_too_short": (
        NAME + "max_session_duration = 10\n",
        "2: max_session_duration must be 60 to 14400, not 10",
    ),
    "audio_filter_unknown": (
        NAME + '[krisp_viva]\naudio_filter = "studio"\n',
        '3: [krisp_viva] audio_filter must be "tel" or "pro", not "studio"',
    ),
    "image_without_tag": (
        NAME + 'image = "acme/bot"\n',
        '2: image must include a tag (my-image:latest), not "acme/bot"',
    ),
    "image_and_build_id": (
        NAME + 'image = "acme/bot:1"\nbuild_id = "b-1"\n',
        "3: give image or build_id, not both",
    ),
    "a_scaling_key_at_the_top": (
        NAME + "min_agents = 1\n",
        "2: unknown key min_agents (did you mean [scaling] min_agents?)",
    ),
    "an_unknown_table": (NAME + "[scalling]\nmin_agents = 1\n", "2: unknown key scalling"),
    "an_array_of_tables": (
        NAME + "[[scaling]]\nmin_agents = 1\n",
        "2: scaling must be a table, not an array",
    ),
    "a_date": ("agent_name = 1979-05-27\n", "1: agent_name must be a string, not 1979-05-27"),
    "docker_auto_latest": (
        NAME + '[docker]\nauto_latest = "yes"\n',
        '3: [docker] auto_latest must be true or false, not "yes"',
    ),
    "docker_misspelt": (
        NAME + '[docker]\nregisty = "dockerhub"\n',
        "3: unknown key [docker] registy (did you mean registry?)",
    ),
    "patterns_not_all_strings": (
        NAME + '[build.exclude]\npatterns = ["*.log", 5]\n',
        "3: [build.exclude] patterns must be an array of strings, not an array",
    ),
    "an_inline_table": (
        NAME + "scaling = { min_agents = 1.5 }\n",
        "2: [scaling] min_agents must be an integer, not 1.5",
    ),
    "a_dotted_key": (
        NAME + "scaling.min_agents = 1.5\n",
        "2: [scaling] min_agents must be an integer, not 1.5",
    ),
    "after_a_multiline_array_and_string": (
        NAME + '[build.exclude]\npatterns = [\n  "a",\n  "[scaling]",\n]\n'
        'description = """\nmin_agents = 1\n"""\n',
        "7: unknown key [build.exclude] description",
    ),
    "a_quoted_key": (
        NAME + '[scaling]\n"min_agents" = "1"\n',
        '3: [scaling] min_agents must be an integer, not "1"',
    ),
    "agent_name_missing": ('region = "us-west"\n', "agent_name is missing"),
    "agent_name_empty": ('agent_name = ""\n', "1: agent_name must not be empty"),
    # The keys issue 31 added: each checked by kind and limit, as pcc 1.4.0 checks them.
    "architecture_unknown": (
        NAME + 'architecture = "x86"\n',
        '2: architecture must be "amd64" or "arm64", not "x86"',
    ),
    "websocket_auth_unknown": (
        NAME + 'websocket_auth = "hmac"\n',
        '2: websocket_auth must be "none" or "token", not "hmac"',
    ),
    "websocket_auth_a_flag": (
        NAME + "websocket_auth = true\n",
        "2: websocket_auth must be a string, not true",
    ),
    "resources_without_memory": (
        NAME + '[resources]\ncpu = "2"\n',
        "2: [resources] needs both cpu and memory: memory is missing",
    ),
    "resources_not_a_quantity": (
        NAME + '[resources]\ncpu = "2"\nmemory = "4 GB"\n',
        '4: [resources] memory must be a Kubernetes quantity (e.g. "500m", "2", "4Gi"), not "4 GB"',
    ),
    "resources_misspelt": (
        NAME + '[resources]\ncpus = "2"\nmemory = "4Gi"\n',
        "3: unknown key [resources] cpus (did you mean cpu?)",
    ),
    "resources_and_profile": (
        NAME + 'agent_profile = "agent-2x"\n[resources]\ncpu = "2"\nmemory = "4Gi"\n',
        "3: give agent_profile or [resources], not both",
    ),
    "git_repo_not_owner_repo": (
        NAME + '[git]\nrepo = "acme"\nbranch = "main"\n',
        '3: [git] repo must be of the form owner/repo, not "acme"',
    ),
    "git_without_branch": (
        NAME + '[git]\nrepo = "acme/bot"\n',
        "2: [git] needs both repo and branch: branch is missing",
    ),
    "git_and_image": (
        NAME + 'image = "acme/bot:1"\n[git]\nrepo = "acme/bot"\nbranch = "main"\n',
        "3: give [git] or image, not both",
    ),
    "git_and_resources": (
        NAME + '[git]\nrepo = "acme/bot"\nbranch = "main"\n[resources]\ncpu = "2"\n'
        'memory = "4Gi"\n',
        "5: [resources] cannot size an agent built from [git] yet",
    ),
    "enable_krisp": (
        NAME + "enable_krisp = true\n",
        "2: enable_krisp is no longer read (pcc 1.4 refuses it too): use [krisp_viva] audio_filter",
    ),
}


def written(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "pcc-deploy.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(DeployFileError) as caught:
        read_deploy_file(path)
    return str(caught.value)


@pytest.mark.parametrize(("text", "said"), ISSUE.values(), ids=ISSUE.keys())
def test_the_issue_s_files_are_refused_in_one_line_naming_key_and_line(
    tmp_path: Path, text: str, said: str
) -> None:
    path = written(tmp_path, text)
    assert refusal(path) == f"{path}:{said}"


@pytest.mark.parametrize(("text", "said"), MORE.values(), ids=MORE.keys())
def test_each_key_is_checked_by_kind_and_limit_at_its_line(
    tmp_path: Path, text: str, said: str
) -> None:
    path = written(tmp_path, text)
    message = refusal(path)
    expected = f"{path}:{said}" if said[0].isdigit() else f"{path}: {said}"
    assert message.startswith(expected), message
    assert "\n" not in message


def test_brackets_nested_too_deep_for_the_parser_are_one_line(tmp_path: Path) -> None:
    for opening in ("[", "{a="):
        path = written(tmp_path, NAME + "x = " + opening * 100_000 + "\n")
        assert refusal(path) == f"{path} is not valid TOML: nested too deeply to read"


def test_a_syntax_error_is_the_parser_s_line_and_column(tmp_path: Path) -> None:
    path = written(tmp_path, NAME + "[scaling]\nmin_agents = = 1\n")
    assert refusal(path) == f"{path} is not valid TOML: Invalid value (at line 3, column 14)"


def test_bytes_that_are_not_utf8_are_one_line_at_their_line(tmp_path: Path) -> None:
    path = written(tmp_path, NAME.encode() + b'region = "\xff"\n')
    assert refusal(path) == f"{path}:2: not UTF-8 text (TOML is UTF-8)"


def test_a_long_unknown_key_is_shortened(tmp_path: Path) -> None:
    path = written(tmp_path, NAME + "k" * 10_000 + " = 1\n")
    assert refusal(path) == f"{path}:2: unknown key {'k' * 37}..."


def test_a_right_file_is_read_with_every_table(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        NAME + 'region = "us-west"\nsecret_set = "s"\nagent_profile = "agent-2x"\n'
        'max_session_duration = 600\nwebsocket_auth = "token"\narchitecture = "amd64"\n'
        "[scaling]\nmin_agents = 1\nmax_agents = 3\n"
        '[krisp_viva]\naudio_filter = "pro"\n'
        '[build]\ncontext_dir = "app"\ndockerfile = "Dockerfile.prod"\n'
        '[build.exclude]\npatterns = ["*.log"]\n'
        '[docker]\nregistry = "dockerhub"\nregistry_username = "acme"\nauto_latest = false\n',
    )
    agent, build = read_deploy_file(path)
    assert agent == {
        "service_name": "bot",
        "region": "us-west",
        "secret_set": "s",
        "image_pull_secret_set": None,
        "agent_profile": "agent-2x",
        "max_session_duration": 600,
        "min_agents": 1,
        "max_agents": 3,
        "krisp_viva_audio_filter": "pro",
        "websocket_auth": "token",
        "architecture": "amd64",
        "resources": None,
    }
    assert build == {
        "context": str(tmp_path / "app"),
        "dockerfile": "Dockerfile.prod",
        "exclude": ["*.log"],
        "region": "us-west",
    }


def test_resources_are_read_instead_of_a_profile(tmp_path: Path) -> None:
    path = written(
        tmp_path, NAME + 'image = "acme/bot:1"\n[resources]\ncpu = "500m"\nmemory = "1Gi"\n'
    )
    agent, build = read_deploy_file(path)
    assert build is None
    assert agent["resources"] == {"cpu": "500m", "memory": "1Gi"}
    assert agent["agent_profile"] is None


def test_a_github_source_is_read_in_the_api_s_names(tmp_path: Path) -> None:
    path = written(
        tmp_path,
        NAME + 'image_credentials = "ghcr"\n[git]\nrepo = "acme/bot"\nbranch = "main"\n'
        'dockerfile_path = "docker/Dockerfile"\nsubdirectory = "agent"\n',
    )
    agent, build = read_deploy_file(path)
    assert build is None
    assert agent["git"] == {
        "repoFullName": "acme/bot",
        "branch": "main",
        "dockerfilePath": "docker/Dockerfile",
        "subdirectory": "agent",
    }
    assert agent["image_pull_secret_set"] is None  # nothing is pulled: pcc drops it too


def test_the_line_scan_finds_headers_dotted_and_quoted_keys() -> None:
    text = (
        "# a comment = 1\n"
        'agent_name = "bot" # [scaling]\n'
        "[build]\n"
        "exclude.patterns = [\n"
        '  "]",\n'
        "]\n"
        "[ 'scaling' ]\n"
        "max_agents = 2\n"
        '"min_agents" = 1\n'
    )
    assert line_of(text, ("agent_name",)) == 2
    assert line_of(text, ("build",)) == 3
    assert line_of(text, ("build", "exclude", "patterns")) == 4
    assert line_of(text, ("build", "exclude")) == 4
    assert line_of(text, ("scaling",)) == 7
    assert line_of(text, ("scaling", "min_agents")) == 9
    assert line_of(text, ("region",)) is None


# A Deployment's keyword arguments, named as the program names them.
KEYWORDS = {
    "misspelt": ({"min_agnets": 1}, "unknown keyword min_agnets (did you mean min_agents?)"),
    "the_file_s_name": (
        {"agent_name": "bot"},
        "unknown keyword agent_name (did you mean service_name?)",
    ),
    "a_fraction": ({"min_agents": 1.5}, "min_agents must be an integer, not 1.5"),
    "a_flag_for_a_number": ({"max_agents": True}, "max_agents must be an integer, not True"),
    "a_number_for_a_name": ({"service_name": 123}, "service_name must be a string, not 123"),
}


@pytest.mark.parametrize(("given", "said"), KEYWORDS.values(), ids=KEYWORDS.keys())
def test_a_wrong_keyword_is_refused_by_its_python_name(
    tmp_path: Path, given: dict[str, object], said: str
) -> None:
    assert override_problem(given) == said
    path = written(tmp_path, NAME + 'image = "acme/bot:1"\n')
    with pytest.raises(pulumi.RunError) as caught:
        Deployment("bot", config_file=str(path), **given)
    assert str(caught.value) == f"Deployment 'bot': {said}"


def test_right_keywords_and_values_for_the_agent_to_judge_pass() -> None:
    assert override_problem({"adopt_existing": True, "deploy_timeout": 60, "min_agents": 2}) is None
    assert override_problem({"secret_set": object(), "region": None}) is None


def test_a_deployment_of_a_wrong_file_stops_before_declaring_anything(tmp_path: Path) -> None:
    path = written(tmp_path, ISSUE["min_agents_a_fraction"][0])
    with pytest.raises(pulumi.RunError) as caught:
        Deployment("bot", config_file=path)
    assert str(caught.value) == (
        f"Deployment 'bot': {path}:3: [scaling] min_agents must be an integer, not 1.5"
    )


# pcc 1.4.0's own loader on the same files. It refuses these too:
PCC_REFUSES = (
    "scaling_not_a_table",
    "build_not_a_table",
    "image_an_array",
    "min_agents_misspelt",
    "audio_filter_misspelt",
    "min_agents_negative",
    "max_agents_zero",
    "max_below_min",
    "session_too_short",
    "audio_filter_unknown",
    "image_without_tag",
    "image_and_build_id",
    "a_scaling_key_at_the_top",
    "an_unknown_table",
    "enable_krisp",
    "architecture_unknown",
    "resources_without_memory",
    "resources_not_a_quantity",
    "resources_misspelt",
    "resources_and_profile",
    "git_repo_not_owner_repo",
    "git_without_branch",
    "git_and_image",
)
# and loads these, to fail later or deploy something else: here they stop at preview.
PCC_LOADS = (
    "context_dir_a_number",  # a traceback at its cloud build
    "patterns_a_string",  # three patterns: "a", "b", "c"
    "min_agents_a_fraction",  # sent as 1.5
    "agent_name_a_number",  # sent as 123
    "context_dir_misspelt",  # [build] keys are read with .get(): the typo is ignored
    "docker_misspelt",  # the same in [docker]
    "min_agents_true",
    "websocket_auth_unknown",  # sent as it is: pcc does not check it
    "websocket_auth_a_flag",  # sent as true
    "git_and_resources",  # refused by `pcc deploy` itself, before any call
)
BOTH = {**ISSUE, **MORE}


def pcc_load(monkeypatch: pytest.MonkeyPatch, path: Path) -> object:
    import pipecatcloud.cli.config as pcc_config
    from pipecatcloud._utils.deploy_utils import load_deploy_config_file

    monkeypatch.setattr(pcc_config, "deploy_config_path", str(path))
    return load_deploy_config_file()


@pytest.mark.parametrize("case", PCC_REFUSES)
def test_pcc_refuses_these_files_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from pipecatcloud.exception import ConfigFileError

    path = written(tmp_path, BOTH[case][0])
    with pytest.raises(ConfigFileError):
        pcc_load(monkeypatch, path)


@pytest.mark.parametrize("case", PCC_LOADS)
def test_pcc_loads_these_files_that_are_refused_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    path = written(tmp_path, BOTH[case][0])
    assert pcc_load(monkeypatch, path) is not None


def test_pcc_takes_a_file_nested_too_deep_for_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = written(tmp_path, NAME + "x = " + "[" * 100_000 + "\n")
    assert pcc_load(monkeypatch, path) is None
