from pathlib import Path

import pytest

from medtower.settings import Settings


def test_env_vars_with_prefix_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDTOWER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MEDTOWER_SMTP_PORT", "2525")
    monkeypatch.setenv("MEDTOWER_PLANNER_EMAILS", "a@plant.example, b@plant.example")
    monkeypatch.setenv("MEDTOWER_QA_EMAILS", '["qa@plant.example"]')
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.smtp_port == 2525
    assert settings.planner_emails == ["a@plant.example", "b@plant.example"]
    assert settings.qa_emails == ["qa@plant.example"]


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDTOWER_SMTP_PORT", "not-a-port")
    with pytest.raises(ValueError, match="smtp_port"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        # Written out by hand: the variable, the value as given, and what is allowed.
        ("MEDTOWER_SMTP_PORT", "not-a-port", "MEDTOWER_SMTP_PORT='not-a-port' is not valid: "),
        ("MEDTOWER_SMTP_PORT", "70000", "a TCP port is a whole number from 1 to 65535"),
        ("MEDTOWER_SMTP_TLS", "maybe", "allowed: true or false (also 1/0, yes/no, on/off)"),
        ("MEDTOWER_LOG_LEVEL", "loud", "allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("MEDTOWER_QA_EMAILS", "[qa@x", "allowed: addresses separated by commas"),
        ("MEDTOWER_ALERT_SMTP_BACKOFF_SECONDS", "soon", "allowed: a number"),
    ],
)
def test_load_settings_names_the_variable_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    from medtower.settings import SettingsError, load_settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r} is not valid: ")
    assert expected in message
    assert "\n" not in message  # one line a person reads, not pydantic's report


def test_log_level_any_case_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDTOWER_LOG_LEVEL", "debug")
    from medtower.settings import load_settings

    assert load_settings().log_level == "debug"
