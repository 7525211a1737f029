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
