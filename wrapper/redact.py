"""Keep secrets out of run reports and logs.

The job's own output still reaches the terminal (cron's mail) unchanged: only
what smartcron stores or ships is redacted.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

# Each pattern is (prefix kept)(secret masked)[(suffix kept)]. None may backtrack
# over long unbroken output: a tail is 64 KiB of anything.
_KEY_VALUE = re.compile(
    # key=value, key: value and JSON's "key": "value", in commands, URLs and logs.
    # The key may end a longer name (DB_PASSWORD=...), which stays as it is.
    r"(?i)((?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key"
    r"|client[_-]?secret|private[_-]?key)\b([\"']?)\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
)
_PATTERNS = (
    # Authorization headers of any scheme (Bearer, Basic, token ...).
    re.compile(r"(?i)(authorization\s*[:=]\s*(?:[a-z]+\s+)?)([^\s\"',;]+)"),
    # Credentials in URLs: scheme://user:password@host (the scheme starts a word).
    re.compile(r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://[^/\s:@]+:)([^/\s@]+)(@)"),
    # --password SECRET style flags.
    re.compile(r"(?i)(--?(?:password|passwd|token|secret|api-key|apikey)[ =])(\S+)"),
)
# AWS access key ids stand alone: no key name in front of them.
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")


def redact(text: str) -> str:
    text = _KEY_VALUE.sub(_mask_value, text)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return _AWS_KEY_ID.sub(MASK, text)


def _mask_value(match: re.Match[str]) -> str:
    prefix, key_quote, value = match.groups()
    # JSON ("password": "x") keeps its quotes so the document stays JSON;
    # a shell's password='two words' loses the quoted value whole.
    quoted = key_quote and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    return prefix + (value[0] + MASK + value[0] if quoted else MASK)


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    return groups[0] + MASK + (groups[2] if len(groups) > 2 else "")
