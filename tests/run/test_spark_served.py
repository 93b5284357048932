"""What `twap run --warehouse spark` remembers of its last build and publish (the whole run is
tests/build/test_spark.py's: a run with nothing new there starts no JVM)."""

from pathlib import Path

from twap.publish.versions import Publication
from twap.run import spark_served
from twap.settings import Settings


def published(settings: Settings) -> None:
    """A new version switched to (what a publish leaves, without its tables)."""
    publication = Publication(settings.publish_path)
    version = publication.new_version()
    version.database.touch()
    publication.switch(version)


def test_a_run_is_current_only_through_the_commit_and_version_it_remembered(
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path, database_url=None, source_url=None, publish_path=tmp_path / "twap.db"
    )
    assert not spark_served.is_current(settings, 0)  # nothing published
    published(settings)
    assert not spark_served.is_current(settings, 3)  # published, but not by a run
    spark_served.remember(settings, 3)
    assert spark_served.is_current(settings, 3)
    assert not spark_served.is_current(settings, 4)  # a commit since
    published(settings)  # another version served since (`twap publish` on its own)
    assert not spark_served.is_current(settings, 3)
    spark_served.remember(settings, 3)
    spark_served.forget(settings)  # a build or publish started
    assert not spark_served.is_current(settings, 3)
    spark_served.remember(settings, 3)
    (settings.spark_dir / spark_served.RECORD_FILE).write_text('{"lake_seq": 3, "vers')
    assert not spark_served.is_current(settings, 3)  # cut short: build again
