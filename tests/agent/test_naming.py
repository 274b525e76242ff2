"""Job names for crontab lines: readable, unique, stable."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from smartcron.agent.naming import assign_names, candidates, job_words
from smartcron.wrapper.validate import is_job_name


def test_the_command_that_does_the_work_names_the_job() -> None:
    assert job_words("cd /srv && mysqldump shop | gzip > /b/shop.gz")[0] == "mysqldump"
    assert candidates("mysqldump --all-databases | gzip")[0] == "mysqldump"
    assert candidates("FOO=1 nice -n 10 /usr/local/bin/backup.sh --full")[0] == "backup"
    assert candidates("php /srv/app/artisan schedule:run 2>&1 >/dev/null")[0] == "artisan"
    assert candidates("echo 'unbalanced")[0] == "echo"  # a line the shell would refuse


def test_lines_that_would_share_a_name_take_their_arguments_into_it() -> None:
    texts = ["find /var/log -delete", "find /tmp -delete", "sync.sh", "sync.sh", "echo a"]
    assert assign_names(texts, set()) == [
        "find-var-log",
        "find-tmp",
        "sync",
        "sync-2",
        "echo",
    ]
    assert assign_names(["echo a"], {"echo"}) == ["echo-a"]


COMMANDS = st.lists(
    st.text(st.sampled_from(list("ab/.-_ |&;'\"$()x1<>=")), min_size=1, max_size=30),
    max_size=12,
)


@given(COMMANDS, st.sets(st.sampled_from(["a", "b", "job", "x", "a-b"])))
def test_names_are_unique_valid_and_avoid_the_reserved(
    texts: list[str], reserved: set[str]
) -> None:
    names = assign_names(texts, reserved)
    assert len(names) == len(texts)
    assert len(set(names)) == len(names)
    assert not set(names) & reserved
    for name in names:
        assert is_job_name(name), name
    assert assign_names(texts, reserved) == names  # the same text, the same names
