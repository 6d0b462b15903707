"""ClassArchives: the embedded graph server's JVM archives, made by the real bundled java and
used by real servers."""

from __future__ import annotations

import os
from pathlib import Path

from neo4j import AsyncGraphDatabase

from graph.class_archives import ClassArchives
from graph.embedded import EmbeddedArcadeDB, _package_dir


def archives(directory: Path) -> ClassArchives:
    home = _package_dir()
    return ClassArchives(directory, home / "jre" / "bin" / "java", home / "jars", ["--add-modules=jdk.incubator.vector"])


def mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def test_the_first_starts_make_the_archives_and_later_ones_map_them(tmp_path: Path) -> None:
    cache = tmp_path / "jvm"
    data = tmp_path / "graph"
    first = EmbeddedArcadeDB(data_dir=data, password="archives-1", class_archives=cache)
    await first.start()
    await first.stop()  # waits for the base archive dumped meanwhile
    made = sorted(p.name for p in cache.iterdir())
    assert len(made) == 1 and made[0].endswith(".base.jsa")

    second = EmbeddedArcadeDB(data_dir=data, password="archives-1", class_archives=cache)
    await second.start()
    assert made[0] in mapped(second.pid)  # type: ignore[arg-type]
    await second.stop()  # records the top archive as it exits
    names = sorted(p.name for p in cache.iterdir())
    assert len(names) == 2 and names[1].endswith(".top.jsa") and not any(n.endswith(".tmp") for n in names)

    # another data directory shares them: its JVM maps both and answers as before
    third = EmbeddedArcadeDB(data_dir=tmp_path / "other", password="archives-2", class_archives=cache)
    await third.start()
    try:
        maps = mapped(third.pid)  # type: ignore[arg-type]
        assert all(name in maps for name in names)
        async with AsyncGraphDatabase.driver(third.uri, auth=third.auth) as driver:
            records, _, _ = await driver.execute_query("RETURN 40 + 2 AS n", database_=third.database)
        assert records[0]["n"] == 42
    finally:
        await third.stop()
    assert sorted(p.name for p in cache.iterdir()) == names
    log = (tmp_path / "other" / "arcadedb.log").read_text()
    # the archives fit: the base was dumped with the server's module options
    assert "ArcadeDB Server started" in log and "[error][cds]" not in log


def test_a_recording_jvm_that_was_killed_leaves_no_top_archive(tmp_path: Path) -> None:
    kept = archives(tmp_path)
    kept.base.parent.mkdir(parents=True, exist_ok=True)
    kept.base.write_bytes(b"stands in for a dumped base archive")
    launch = kept.launch()
    assert launch.recording is not None
    assert launch.options == [f"-XX:SharedArchiveFile={kept.base}", f"-XX:ArchiveClassesAtExit={launch.recording}"]
    launch.recording.write_bytes(b"half written")
    kept.exited(launch, -9)  # SIGKILLed part-way through
    assert not kept.top.exists() and not launch.recording.exists()

    again = kept.launch()
    assert again.recording is not None and again.recording != launch.recording
    again.recording.write_bytes(b"complete")
    kept.exited(again, 143)  # ended by SIGTERM, after writing it
    assert kept.top.read_bytes() == b"complete"
    assert kept.launch().options == [f"-XX:SharedArchiveFile={kept.base}{os.pathsep}{kept.top}"]


def test_a_cache_path_with_the_path_separator_makes_no_archives(tmp_path: Path) -> None:
    odd = archives(tmp_path / f"a{os.pathsep}b")
    assert odd.launch().options == []
    odd.wait()
    assert not (tmp_path / f"a{os.pathsep}b").exists()


def test_archives_are_named_for_the_runtime_jars_and_module_options(tmp_path: Path) -> None:
    home = _package_dir()
    java, jars = home / "jre" / "bin" / "java", home / "jars"
    one = ClassArchives(tmp_path, java, jars, ["--add-modules=jdk.incubator.vector"])
    assert one.base.name == ClassArchives(tmp_path, java, jars, ["--add-modules=jdk.incubator.vector"]).base.name
    assert one.base.name != ClassArchives(tmp_path, java, jars, []).base.name
    fewer = tmp_path / "jars"
    fewer.mkdir()
    (fewer / "only.jar").write_bytes(b"PK")
    assert one.base.name != ClassArchives(tmp_path, java, fewer, ["--add-modules=jdk.incubator.vector"]).base.name


def test_partial_archives_left_by_killed_jvms_are_swept_once_stale(tmp_path: Path) -> None:
    kept = archives(tmp_path)
    stale, fresh = tmp_path / f"{kept.top.stem}.1a2b.tmp", tmp_path / f"{kept.top.stem}.3c4d.tmp"
    for partial in (stale, fresh):
        partial.write_bytes(b"half written")
    os.utime(stale, (0, 0))
    kept.launch()
    kept.wait()
    assert not stale.exists() and fresh.exists()  # a live JVM may still be writing the fresh one
