"""Settings: precedence, coercion, and docs/settings.md describing every field."""
import dataclasses
from pathlib import Path

import pytest

from tidelake.config import Settings
from tidelake.errors import InvalidArgument

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_every_setting_is_documented():
    text = DOCS.read_text()
    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in text, f"docs/settings.md does not describe {field.name}"
        assert f"`TIDELAKE_{field.name.upper()}`" in text
        assert field.metadata.get("doc"), f"Settings.{field.name} has no description"


def test_precedence_defaults_file_env_overrides(tmp_path):
    (tmp_path / "tidelake.toml").write_text('port = 5000\ndurability = "flush"\nshard_limit = 7\n')
    env = {"TIDELAKE_DATA_DIR": str(tmp_path), "TIDELAKE_PORT": "6000"}
    settings = Settings.from_env(env=env, port=7000)
    assert settings.port == 7000  # option beats env beats file
    assert settings.durability == "flush"  # from the file
    assert settings.shard_limit == 7
    assert settings.data_dir == tmp_path
    assert Settings.from_env(env=env).port == 6000


def test_env_values_are_coerced():
    settings = Settings.from_env(env={"TIDELAKE_ENFORCE_THROUGHPUT": "true", "TIDELAKE_CREDENTIALS": "A:s1,B:s2",
                                      "TIDELAKE_TRANSITION_SECONDS": "0.25"})
    assert settings.enforce_throughput is True
    assert settings.credentials == (("A", "s1"), ("B", "s2"))
    assert settings.transition_seconds == 0.25


@pytest.mark.parametrize("env", [{"TIDELAKE_PORT": "many"}, {"TIDELAKE_DURABILITY": "maybe"},
                                 {"TIDELAKE_ENFORCE_THROUGHPUT": "perhaps"}])
def test_bad_values_are_refused_with_the_setting_named(env):
    with pytest.raises(InvalidArgument):
        Settings.from_env(env=env)


def test_unknown_key_in_file_is_refused(tmp_path):
    (tmp_path / "tidelake.toml").write_text("prot = 1\n")
    with pytest.raises(InvalidArgument, match="prot"):
        Settings.from_env(env={"TIDELAKE_DATA_DIR": str(tmp_path)})
