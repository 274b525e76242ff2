"""Keep secrets out of run reports and logs.

The job's own output still reaches the terminal (cron's mail) unchanged: only
what smartcron stores or ships is redacted.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

_PATTERNS = (
    # key=value and key: value pairs, in command lines, URLs' query strings and logs.
    re.compile(
        r"(?i)\b((?:[a-z0-9_-]*?)(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key"
        r"|secret[_-]?access[_-]?key|client[_-]?secret|private[_-]?key)\b\s*[=:]\s*)"
        r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
    ),
    # Authorization headers of any scheme (Bearer, Basic, token ...).
    re.compile(r"(?i)(authorization\s*[:=]\s*(?:[a-z]+\s+)?)([^\s\"',;]+)"),
    # Credentials in URLs: scheme://user:password@host
    re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@]+:)([^/\s@]+)(@)", re.IGNORECASE),
    # --password SECRET style flags.
    re.compile(r"(?i)(--?(?:password|passwd|token|secret|api-key|apikey)[ =])(\S+)"),
)
# AWS access key ids stand alone: no key name in front of them.
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return _AWS_KEY_ID.sub(MASK, text)


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    return groups[0] + MASK + (groups[2] if len(groups) > 2 else "")
