"""The log file beside stderr: rotation by size and by time, the number of old files kept,
gzip of rotated files, and the settings that configure it."""
from __future__ import annotations

import gzip
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.ops import logs
from app.ops.config import ConfigError, load
from app.settings import LogSettings

LINE = "x" * 80  # with the JSON envelope, about 200 bytes a line


@pytest.fixture
def configured() -> Iterator[None]:
    """Configures logging like `serve` does and undoes it afterwards (handlers closed)."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if h.get_name() in ("agentmem", "agentmem-file")]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def start(tmp_path: Path, **options: object) -> tuple[Path, io.StringIO]:
    path = tmp_path / "logs" / "agentmem.log"  # the directory does not exist yet
    stderr = io.StringIO()
    logs.configure("INFO", "json", stream=stderr, file=LogSettings(file=path, **options))
    return path, stderr


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_size_rotation_keeps_backup_count_gzipped_files(tmp_path: Path, configured: None) -> None:
    path, stderr = start(tmp_path, rotate_bytes=2000, backup_count=3, compress=True)
    log = logging.getLogger("agentmem.test")
    for n in range(100):  # ~20 kB: about ten rollovers, far more than the three kept
        log.info("line %d %s", n, LINE)
    rotated = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert rotated == ["agentmem.log.1.gz", "agentmem.log.2.gz", "agentmem.log.3.gz"]
    assert 0 < path.stat().st_size <= 2000
    # newest in the live file, then .1.gz, .2.gz, .3.gz: a contiguous tail of what was written
    numbers: list[int] = []
    for name in ["agentmem.log.3.gz", "agentmem.log.2.gz", "agentmem.log.1.gz"]:
        with gzip.open(path.parent / name, "rt", encoding="utf-8") as packed:
            numbers += [int(str(r["message"]).split()[1]) for r in json_lines(packed.read())]
    numbers += [int(str(r["message"]).split()[1]) for r in json_lines(path.read_text())]
    assert numbers == list(range(numbers[0], 100)) and numbers[0] > 0
    # stderr still gets every line
    assert len(json_lines(stderr.getvalue())) == 100


def test_size_rotation_without_compression_keeps_plain_files(tmp_path: Path, configured: None) -> None:
    path, _ = start(tmp_path, rotate_bytes=1000, backup_count=2)
    for n in range(30):
        logging.getLogger("agentmem.test").warning("line %d %s", n, LINE)
    assert sorted(p.name for p in path.parent.iterdir()) == ["agentmem.log", "agentmem.log.1", "agentmem.log.2"]
    assert json_lines((path.parent / "agentmem.log.1").read_text())  # readable as it is


def test_time_rotation_gzips_the_previous_period(tmp_path: Path, configured: None) -> None:
    # the handler's first rollover falls on the whole second after it opens (the stdlib truncates
    # the opening time): opened late in a second, the first record already started a new file
    # (two rotated files, one a CI run met). Opened just after a whole second, it is ~1 s away
    time.sleep(1.02 - time.time() % 1)
    path, _ = start(tmp_path, rotate_when="S", backup_count=2, compress=True)
    log = logging.getLogger("agentmem.test")
    log.info("before %s", LINE)
    time.sleep(1.1)  # when="S": the next record after one second from opening starts a new file
    log.info("after %s", LINE)
    (rotated,) = [p for p in path.parent.iterdir() if p != path]
    assert rotated.name.startswith("agentmem.log.") and rotated.name.endswith(".gz")
    with gzip.open(rotated, "rt", encoding="utf-8") as packed:
        assert [r["message"] for r in json_lines(packed.read())] == [f"before {LINE}"]
    assert [r["message"] for r in json_lines(path.read_text())] == [f"after {LINE}"]


def test_reconfiguring_keeps_one_file_handler(tmp_path: Path, configured: None) -> None:
    path, _ = start(tmp_path)
    logs.configure("INFO", "text")  # what SIGHUP does for a new log_format
    logging.getLogger("agentmem.test").warning("once")
    names = [h.get_name() for h in logging.getLogger().handlers]
    assert names.count("agentmem-file") == 1
    assert path.read_text().count("once") == 1 and "WARNING" in path.read_text()


def test_the_settings_refuse_size_and_time_together(tmp_path: Path) -> None:
    config = tmp_path / "agentmem.toml"
    config.write_text('[log]\nfile = "agentmem.log"\nrotate_bytes = 1000\nrotate_when = "midnight"\n')
    with pytest.raises(ConfigError, match="not both"):
        load(config)
    config.write_text('[log]\nrotate_when = "fortnightly"\n')
    with pytest.raises(ConfigError, match="log.rotate_when"):
        load(config)
