"""The dotenv reader of SecretSet's `secretsFile` (pcc_provider.dotenv): what it makes of each
file of the corpus (pcc's own reading of the same files: tests/engine/test_dotenv_pcc.py), and
its one-line errors, which name the file and line and never a value."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv_corpus import ACCEPTED, REFUSED

from pcc_provider import dotenv


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_each_file_gives_what_pcc_sets(tmp_path: Path, name: str) -> None:
    content, expected = ACCEPTED[name]
    path = tmp_path / ".env"
    path.write_bytes(content)
    assert dotenv.read(path) == expected


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_each_file_pcc_refuses_is_refused_naming_file_and_line(tmp_path: Path, name: str) -> None:
    content, line = REFUSED[name]
    path = tmp_path / ".env"
    path.write_bytes(content)
    with pytest.raises(dotenv.DotenvError) as refused:
        dotenv.read(path)
    message = str(refused.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    if line is not None:
        assert f"line {line}:" in message, message
    assert "s3cr3t" not in message


def test_the_messages_say_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "bot.env"
    cases = {
        b"A=1\nsk-live-abcdef\n": f"{path}, line 2: not a KEY=value line (no `=`)",
        b"export OPENAI_API_KEY=sk-live-abcdef\n": "line 1: the key is not a valid secret name: "
        "remove `export ` (pcc does not read it)",
        b"A=1\n\nB=\n": f"{path}, line 3: empty value; Pipecat Cloud refuses empty values",
        b"# only\n": f"{path}: no KEY=value line",
    }
    for content, expected in cases.items():
        path.write_bytes(content)
        with pytest.raises(dotenv.DotenvError, match=None) as refused:
            dotenv.read(path)
        assert expected in str(refused.value), refused.value
        assert "sk-live" not in str(refused.value)


def test_a_missing_file_a_folder_and_non_utf8_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(dotenv.DotenvError, match=r"missing\.env: no such file$"):
        dotenv.read(tmp_path / "missing.env")
    with pytest.raises(dotenv.DotenvError, match="is a folder, not a dotenv file"):
        dotenv.read(tmp_path)
    (tmp_path / "latin1.env").write_bytes(b"A=1\nB=caf\xe9\n")
    with pytest.raises(dotenv.DotenvError, match=r"latin1\.env, line 2: not UTF-8 text$"):
        dotenv.read(tmp_path / "latin1.env")


def test_secrets_file_in_each_doors_names(tmp_path: Path) -> None:
    from pcc_provider.description import PYTHON, SCHEMA
    from pcc_provider.secrets import SECRET_SET, with_file

    path = tmp_path / ".env"
    path.write_text("A=s3cr3t\n")
    read, problem = with_file({"secretsFile": str(path)}, SCHEMA)
    assert problem is None and read["secrets"] == {"A": "s3cr3t"}
    _, problem = with_file({"secretsFile": str(path), "secrets": {"B": "c"}}, PYTHON)
    assert problem == (
        "give secrets or secrets_file, not both: the file's KEY=value lines are the set's secrets"
    )
    path.write_text("A\n")
    _, problem = with_file({"secretsFile": str(path)}, SCHEMA)
    assert (
        problem == f"secretsFile {path}, line 1: not a KEY=value line (no `=`); pcc refuses it too"
    )
    neither = SECRET_SET.problems({"setName": "bot-secrets", "region": "us-west"}, PYTHON)
    assert neither == [("secrets", "give secrets (KEY: value) or secrets_file (a dotenv file)")]
