"""The package as installed: it finds the library installed beside it
(_paths.py, written by CMake), still honours SSTREAM_LIBRARY and the
build tree, and its type hints hold (py.typed, mypy --strict)."""

import os
import shutil
import subprocess
import sys

import pytest

import sstream
from sstream import _native

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)


def _install(tmp_path, library_from_here, library):
    """A tree laid out as an install: PREFIX/lib/python3/dist-packages/sstream
    with a _paths.py as CMake writes it."""
    site = tmp_path / "usr" / "lib" / "python3" / "dist-packages"
    shutil.copytree(os.path.join(PACKAGE, "sstream"), site / "sstream",
                    ignore=shutil.ignore_patterns("__pycache__", "_paths.py"))
    (site / "sstream" / "_paths.py").write_text(
        "LIBRARY = %r\nLIBRARY_FROM_HERE = %r\n" % (str(library), library_from_here))
    return site


def _loaded_from(site, **environment):
    env = {key: value for key, value in os.environ.items() if key != "SSTREAM_LIBRARY"}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", **environment)
    result = subprocess.run([sys.executable, "-c", "import sstream; print(sstream._native.path)"],
                            capture_output=True, text=True, env=env, cwd=str(site))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_library_installed_beside_the_package_is_found(tmp_path):
    libdir = tmp_path / "usr" / "lib" / "some-arch"
    libdir.mkdir(parents=True)
    os.symlink(os.path.realpath(_native.path), libdir / "libsstream.so.0")
    site = _install(tmp_path, "../../../some-arch/libsstream.so.0", "/nonexistent/libsstream.so.0")
    assert _loaded_from(site) == str(libdir / "libsstream.so.0")
    #   SSTREAM_LIBRARY comes first
    assert _loaded_from(site, SSTREAM_LIBRARY=os.path.realpath(_native.path)) \
        == os.path.realpath(_native.path)


def test_the_install_location_when_the_tree_was_moved(tmp_path):
    #   Beside the package there is nothing (the package was copied away):
    #   the path CMake configured is next
    site = _install(tmp_path, "../../../gone/libsstream.so.0", os.path.realpath(_native.path))
    assert _loaded_from(site) == os.path.realpath(_native.path)


def test_a_missing_installed_library_says_where_it_looked(tmp_path):
    site = _install(tmp_path, "../../../gone/libsstream.so.0", tmp_path / "nowhere" / "libsstream.so.0")
    env = {key: value for key, value in os.environ.items() if key != "SSTREAM_LIBRARY"}
    env.update(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1", LD_LIBRARY_PATH="")
    result = subprocess.run([sys.executable, "-c", "import sstream"], capture_output=True,
                            text=True, env=env, cwd=str(site))
    if result.returncode == 0:
        pytest.skip("a libsstream is installed for the system's loader")
    assert "installed beside this package" in result.stderr
    assert str(tmp_path / "usr" / "lib" / "gone" / "libsstream.so.0") in result.stderr
    assert "install location" in result.stderr and "nowhere" in result.stderr


def test_from_the_repository_the_build_tree_then_the_system(monkeypatch):
    monkeypatch.delenv("SSTREAM_LIBRARY", raising=False)
    top = os.path.dirname(os.path.dirname(PACKAGE))
    #   No _paths.py in the source tree: it is written into installs only
    assert not os.path.exists(os.path.join(PACKAGE, "sstream", "_paths.py"))
    assert list(_native._candidates()) == [
        ("build tree", os.path.join(top, "build", "core", "libsstream.so.0")),
        ("system library path", "libsstream.so.0")]
    monkeypatch.setenv("SSTREAM_LIBRARY", "/somewhere/libsstream.so.0")
    assert list(_native._candidates()) == [("SSTREAM_LIBRARY", "/somewhere/libsstream.so.0")]


def test_the_type_hints_hold(tmp_path):
    assert os.path.exists(os.path.join(PACKAGE, "sstream", "py.typed"))
    assert sstream.Consumer.recv.__annotations__["return"] == "Optional[Message]"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", os.path.join(PACKAGE, "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy"), os.path.join(PACKAGE, "sstream")],
        capture_output=True, text=True, cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
