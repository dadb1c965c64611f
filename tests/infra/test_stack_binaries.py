"""The stack finds its servers' programs for any user, not only root (whose PATH has /usr/sbin)."""

from __future__ import annotations

import pytest

from kernel.settings import StackSettings
from infra.stack.parts import Mosquitto, StackError, _which


def test_a_daemon_in_usr_sbin_is_found_with_a_normal_users_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin:/bin")  # Debian's default PATH for a non-root user
    assert _which("mosquitto", "mosquitto") == "/usr/sbin/mosquitto"
    assert Mosquitto(StackSettings(state_dir=tmp_path)).argv()[0] == "/usr/sbin/mosquitto"


def test_a_missing_program_names_its_debian_package(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(StackError, match="install the Debian package 'no-such-pkg'"):
        _which("no-such-program-vigil", "no-such-pkg")
