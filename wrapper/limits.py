"""The limits a run report's values live within, in one place.

The wrapper refuses at its command line what the collector would refuse in a
report (validate.py), and the report model checks the same numbers (schema.py):
a value one side takes and the other refuses would sit in the spool forever.
Plain constants and regexes only: the wrapper imports this on every run.
"""

from __future__ import annotations

import re

# Job names appear in URL paths (/jobs/NAME) and file names (jobs/NAME.json): a name
# made only of dots would be `.` or `..` there, so a name needs one other character.
NAME_MAX = 100
NAME_CHARS = "letters, digits, '_', '.' or '-'"
NAME_REGEX = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
NAME_PATTERN = re.compile(NAME_REGEX)

# Tags are labels, never paths: any mix of the same characters.
TAG_REGEX = r"^[A-Za-z0-9_.-]+$"
TAG_PATTERN = re.compile(TAG_REGEX)
TAG_MAX = 64
TAGS_MAX = 16
# The collector stores the tags joined by commas in a column of this many characters
# (collector/db/tables.py): 16 tags of 64 would need 1,039, so the whole list has a cap.
TAGS_JOINED_MAX = 1024

SCHEDULE_MAX = 255  # the job row's and the run row's schedule column
# IANA zone names (Europe/Berlin): a report's `timezone` and the job row's column; no
# absolute paths and no `..`, as the name is looked up under the zone database.
ZONE_MAX = 64
ZONE_REGEX = r"^[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*$"
ZONE_PATTERN = re.compile(ZONE_REGEX)
COMMAND_MAX = 65_536
HOST_MAX = 255
USER_MAX = 255
WRAPPER_VERSION_MAX = 32
# A reason a report gives in words (lock_error; an attempt's error): an OS error and the
# path or command it names (either may be kilobytes); the wrapper cuts a longer one to
# this (report.py's cut_to) rather than write what would be refused.
REASON_MAX = 1024
TAIL_MAX = 131_072  # characters of a stdout or stderr tail

PRIORITY_MIN, PRIORITY_MAX = 1, 10
RETRIES_MAX = 100
ATTEMPTS_MAX = RETRIES_MAX + 1
BREAKER_THRESHOLD_MAX = 10_000
# --alert-after: consecutive failures before an alert; the job row's SMALLINT holds it.
ALERT_AFTER_MAX = 10_000
EXIT_CODE_MAX = 255
SIGNAL_MIN, SIGNAL_MAX = 1, 64

# Any duration a report carries; also the cap on every duration setting, so that a
# sleep or a deadline built from one stays within what time.sleep and the clock take.
SECONDS_MAX = 1e9
# Any byte count a report carries; --max-memory stays far below it.
BYTES_MAX = 2**62
MEMORY_MAX = 1 << 50  # 1 PiB: more than any host has, far from overflowing anything


def joined_tags_length(tags: list[str] | tuple[str, ...]) -> int:
    """The length of the tags as the collector stores them (comma-joined)."""
    return len(",".join(tags))
