"""Tests for labgate.settings and labgate.config_reference: where settings come from, in
which priority, how mistakes are reported, and the generated reference page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import SecretStr

from labgate.config_reference import masked_settings, reference_markdown
from labgate.errors import ConfigurationError
from labgate.settings import ENV_PREFIX, Settings, load_settings
from tests.support.environment import CONFIG_VARIABLE, isolate_settings_environment

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE_PAGE = REPOSITORY / "docs" / "configuration.md"
REGENERATE = "labgate config reference -o docs/configuration.md"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_settings_environment(monkeypatch)


def write_toml(directory: Path, text: str) -> Path:
    path = directory / "labgate.toml"
    path.write_text(text)
    return path


# --- where values come from -------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()

    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.public_url == ""
    assert settings.trusted_proxies == []
    assert settings.data_dir == Path("var")
    assert settings.database_url == ""
    assert settings.admin_username == "admin"
    assert settings.admin_password is None
    assert settings.auth_providers == ["local"]
    assert settings.api_token_max_days == 365
    assert settings.min_password_length == 10
    assert settings.metrics_public is False
    assert (settings.log_level, settings.log_format) == ("info", "text")
    assert settings.secure_cookies is False


def test_toml_file_is_read(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        'host = "0.0.0.0"\n'
        "port = 9001\n"
        'public_url = "https://labgate.example.org/"\n'
        'trusted_proxies = ["10.0.0.1"]\n'
        'admin_password = "from the file"\n'
        f'data_dir = "{tmp_path / "state"}"\n',
    )

    settings = load_settings(config_file=config)

    assert settings.host == "0.0.0.0"
    assert settings.port == 9001
    assert settings.public_url == "https://labgate.example.org"  # trailing slash dropped
    assert settings.secure_cookies is True
    assert settings.trusted_proxies == ["10.0.0.1"]
    assert settings.admin_password == SecretStr("from the file")
    assert settings.data_dir == tmp_path / "state"


def test_labgate_config_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CONFIG_VARIABLE, str(write_toml(tmp_path, "port = 9005\n")))

    assert load_settings().port == 9005


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path, 'host = "0.0.0.0"\nport = 9001\nlog_level = "debug"\n')
    monkeypatch.setenv("LABGATE_PORT", "9002")
    monkeypatch.setenv("LABGATE_TRUSTED_PROXIES", '["127.0.0.1", "::1"]')
    monkeypatch.setenv("LABGATE_METRICS_PUBLIC", "true")

    settings = load_settings(config_file=config)

    assert settings.port == 9002
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert settings.metrics_public is True
    # What the environment does not name still comes from the file.
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "debug"


def test_command_line_overrides_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_toml(tmp_path, 'host = "0.0.0.0"\nport = 9001\n')
    monkeypatch.setenv("LABGATE_PORT", "9002")
    monkeypatch.setenv("LABGATE_HOST", "10.1.1.1")

    settings = load_settings(config_file=config, port=9003, host=None)

    assert settings.port == 9003
    # An option not given on the command line (None) leaves the environment's value.
    assert settings.host == "10.1.1.1"


# --- mistakes ---------------------------------------------------------------------------


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'port = 9001\ncolour = "blue"\n')

    with pytest.raises(ConfigurationError, match="colour"):
        load_settings(config_file=config)


def test_invalid_toml(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "port = = 9001\n")

    with pytest.raises(ConfigurationError, match="not valid TOML") as caught:
        load_settings(config_file=config)
    assert str(config) in caught.value.message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigurationError, match="does not exist") as caught:
        load_settings(config_file=missing)
    assert str(missing) in caught.value.message


@pytest.mark.parametrize("source", ["file", "environment", "command line"])
def test_invalid_port_is_refused(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config: Path | None = None
    overrides: dict[str, int] = {}
    if source == "file":
        config = write_toml(tmp_path, "port = 0\n")
    elif source == "environment":
        monkeypatch.setenv("LABGATE_PORT", "0")
    else:
        overrides["port"] = 0

    with pytest.raises(ConfigurationError, match=r"Invalid settings: port: .*greater than"):
        load_settings(config_file=config, **overrides)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = write_toml(tmp_path, 'port = 70000\nlog_level = "loud"\n')

    with pytest.raises(ConfigurationError) as caught:
        load_settings(config_file=config)
    assert "port:" in caught.value.message
    assert "log_level:" in caught.value.message


# --- derived values ---------------------------------------------------------------------


def test_empty_database_url_means_sqlite_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    url = Settings(data_dir=Path("relative")).effective_database_url

    # Resolved, so that a later change of working directory does not move the database.
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'relative' / 'labgate.sqlite3'}"


@pytest.mark.parametrize(
    ("configured", "effective"),
    [
        (
            "postgresql://lab:pw@db.example.org:5432/labgate",
            "postgresql+asyncpg://lab:pw@db.example.org:5432/labgate",
        ),
        ("postgres://lab@db/labgate", "postgresql+asyncpg://lab@db/labgate"),
        ("sqlite:////srv/labgate/db.sqlite3", "sqlite+aiosqlite:////srv/labgate/db.sqlite3"),
        ("postgresql+asyncpg://lab@db/labgate", "postgresql+asyncpg://lab@db/labgate"),
    ],
)
def test_effective_database_url(configured: str, effective: str) -> None:
    assert Settings(database_url=configured).effective_database_url == effective


# --- secrets ----------------------------------------------------------------------------


def test_masked_settings_hide_passwords() -> None:
    settings = Settings(
        admin_password=SecretStr("hunter2hunter2"),
        database_url="postgresql://lab:s3cr3t-pw@db.example.org:5432/labgate",
    )

    masked = masked_settings(settings)

    assert masked["admin_password"] == "********"
    assert masked["database_url"] == "postgresql://lab:***@db.example.org:5432/labgate"
    text = json.dumps(masked)
    assert "hunter2hunter2" not in text
    assert "s3cr3t-pw" not in text


def test_masked_settings_keep_everything_else() -> None:
    settings = Settings(database_url="postgresql://lab@db.example.org/labgate", port=8123)

    masked = masked_settings(settings)

    assert list(masked) == list(Settings.model_fields)
    assert masked["admin_password"] is None
    assert masked["database_url"] == "postgresql://lab@db.example.org/labgate"
    assert masked["port"] == 8123
    assert masked["data_dir"] == "var"
    assert json.loads(json.dumps(masked)) == masked


# --- the reference page -----------------------------------------------------------------


def test_reference_documents_every_setting() -> None:
    text = reference_markdown()

    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name!r} has no description"
        assert f"| `{name}` | `{ENV_PREFIX}{name.upper()}` |" in text


def test_committed_reference_is_up_to_date() -> None:
    committed = REFERENCE_PAGE.read_text() if REFERENCE_PAGE.exists() else ""

    assert committed == reference_markdown(), (
        f"{REFERENCE_PAGE.relative_to(REPOSITORY)} is out of date with labgate.settings; "
        f"regenerate it with: {REGENERATE}"
    )


# The limits and timeouts of the boundary between users (issue 14): each refuses a value
# that would switch it off or make no sense, with the setting named.
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("agent_call_timeout_seconds", 0),
        ("resource_connect_attempts_per_minute", 0),
        ("max_processes_per_resource", 0),
        ("max_running_transfers", -1),
        ("max_unfinished_uploads", 0),
        ("app_max_pending_extensions", 0),
        ("proxy_websocket_max_message_bytes", 63),
        ("app_reconcile_concurrency", 0),
        ("app_check_timeout_seconds", 0),
        ("app_probe_timeout_seconds", -5),
        ("app_scheduler_outage_seconds", -1),
    ],
)
def test_limits_refuse_values_out_of_range(
    name: str, value: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PREFIX + name.upper(), str(value))
    with pytest.raises(ConfigurationError, match=rf"Invalid settings: {name}: "):
        load_settings()


@pytest.mark.parametrize("name", ["resource_hosts_allowed", "resource_hosts_denied"])
def test_host_rules_refuse_what_is_neither_a_network_nor_a_name(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PREFIX + name.upper(), json.dumps(["10.0.0.0/33"]))
    with pytest.raises(ConfigurationError, match=rf"Invalid settings: {name}"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("app_setup_index_url", "pypi.example.org/simple"),
        ("app_setup_index_url", "ftp://pypi.example.org/simple"),
        ("app_setup_index_url", "https://"),
        ("app_setup_index_url", "https://mirror example/simple"),
        ("app_setup_wheel_directory", "wheels"),
        ("app_setup_wheel_directory", "~/wheels"),
    ],
)
def test_the_apps_setup_refuses_a_source_it_could_not_use(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PREFIX + name.upper(), value)
    with pytest.raises(ConfigurationError, match=rf"Invalid settings: {name}: "):
        load_settings()


def test_the_apps_setup_takes_a_mirror_and_a_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_PREFIX + "APP_SETUP_INDEX_URL", " https://pypi.example.org/simple ")
    monkeypatch.setenv(ENV_PREFIX + "APP_SETUP_WHEEL_DIRECTORY", "/shared/wheels")
    settings = load_settings()
    assert settings.app_setup_index_url == "https://pypi.example.org/simple"
    assert settings.app_setup_wheel_directory == "/shared/wheels"


@pytest.mark.parametrize("value", ["Help Desk", "-staff", "x" * 33])
def test_the_support_group_must_be_a_group_s_name(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PREFIX + "SUPPORT_GROUP", value)
    with pytest.raises(ConfigurationError, match=r"Invalid settings: support_group: "):
        load_settings()


def test_the_support_group_is_named_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().support_group == ""
    monkeypatch.setenv(ENV_PREFIX + "SUPPORT_GROUP", " helpdesk ")
    assert load_settings().support_group == "helpdesk"
