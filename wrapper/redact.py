"""Keep secrets out of run reports and logs.

The job's own output still reaches the terminal (cron's mail) unchanged: only
what smartcron stores or ships is redacted: the command line and the output tails.
"""

from __future__ import annotations

import functools
import re

MASK = "[REDACTED]"

# Each pattern is (prefix kept)(secret masked)[(suffix kept)]. None may backtrack
# over long unbroken output: a tail is 64 KiB of anything.
_KEY_VALUE = re.compile(
    # key=value, key: value and JSON's "key": "value", in commands, URLs and logs.
    # The key may end a longer name (DB_PASSWORD=, MYSQL_PWD=, PGPASSWORD=,
    # BORG_PASSPHRASE=), which stays as it is.
    r"(?i)((?:password|passwd|passphrase|pwd|token|secret|api[_-]?key|access[_-]?key"
    r"|client[_-]?secret|private[_-]?key)\b([\"']?)\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
)
_PATTERNS = (
    # Authorization headers of any scheme (Bearer, Basic, token ...).
    re.compile(r"(?i)(authorization\s*[:=]\s*(?:[a-z]+\s+)?)([^\s\"',;]+)"),
    # Credentials in URLs: scheme://user:password@host (the scheme starts a word). The
    # user may be empty (redis://:pw@host); the password runs to the last '@' of the
    # host part, as a URL parser reads it.
    re.compile(r"(?i)((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://[^/\s:@]*:)([^/\s]+)(@)"),
    # --password SECRET style flags, also --db-password, --http-password, gpg's
    # --passphrase, redis-cli's --pass, openssl's -passin; not --no-password.
    re.compile(
        r"(?i)((?<![\w-])--?(?!no-)(?:[a-z0-9]+-){0,3}"
        r"(?:password|passwd|passphrase|pass(?:in|out)?|token|secret|api-?key)[ =])(\S+)"
    ),
)
# AWS access key ids stand alone: no key name in front of them.
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")

# Flags whose meaning depends on the program: `-p` is mysql's password but ssh's port.
# Each program's flags are looked for from where its name appears to the end of its
# command in the line, so a trace line of `set -x` is covered as well as argv.
_WORD = r"""'[^'\n]*'|"[^"\n]*"|[^\s'"]+"""  # a word, or a quoted one
_START = r"""(?<=[\s'"])"""  # a flag starts a word (argv joined by shlex may quote it)
# Most take their secret once per appearance: `sshpass -p S3cret ssh -p 2222` keeps the
# port. curl (-u and -U) and openssl (-passin and -passout) may hold two.
_ONCE, _ALL = 1, 0
# Kept as text and compiled on first use: most runs mention none of these programs,
# and the wrapper starts on every cron tick.
_TOOL_FLAGS: tuple[tuple[str, str, int], ...] = (
    # mysql -pSECRET (attached only: a lone -p asks at the terminal)
    (
        r"(?<![\w.-])(?:mysql|mariadb)[\w-]*",
        rf"({_START}-p)({_WORD})",
        _ONCE,
    ),
    # mongodump -p SECRET, sshpass -p SECRET, redis-cli -a SECRET (attached or not)
    (r"(?<![\w.-])mongo\w*", rf"({_START}-p[ \t]*)({_WORD})", _ONCE),
    (r"(?<![\w.-])sshpass\b", rf"({_START}-p[ \t]*)({_WORD})", _ONCE),
    (r"(?<![\w.-])redis-cli\b", rf"({_START}-a[ \t]*)({_WORD})", _ONCE),
    # docker login -p SECRET (docker run -p is a port)
    (
        r"(?<![\w.-])docker[ \t]+login\b",
        rf"({_START}-p[ \t]*)({_WORD})",
        _ONCE,
    ),
    # curl -u user:SECRET, --user, -U/--proxy-user; --oauth2-bearer TOKEN
    (
        r"(?<![\w.-])curl\b",
        (
            rf"({_START}(?:(?:-u|-U|--user|--proxy-user)(?:[ \t]+|=)?['\"]?[^\s:'\"]*:"
            rf"|--oauth2-bearer[ \t=]+))({_WORD})"
        ),
        _ALL,
    ),
    # smbclient -U user%SECRET
    (
        r"(?<![\w.-])smbclient\b",
        rf"({_START}(?:-U|--user)(?:[ \t]+|=)?['\"]?[^\s%'\"]*%)({_WORD})",
        _ONCE,
    ),
    # lftp -u user,SECRET
    (
        r"(?<![\w.-])lftp\b",
        rf"({_START}-u[ \t]*['\"]?[^\s,'\"]*,)({_WORD})",
        _ONCE,
    ),
    # openssl ... -pass pass:SECRET, -passin pass:SECRET
    (r"(?<![\w.-])openssl\b", rf"({_START}pass:)({_WORD})", _ALL),
    # htpasswd -b FILE USER SECRET
    (
        r"(?<![\w.-])htpasswd\b",
        rf"({_START}-[a-zA-Z]*b[a-zA-Z]*(?:[ \t]+(?:{_WORD})){{2}}[ \t]+)({_WORD})",
        _ONCE,
    ),
)
# Where one command of a shell line ends: `|`, `||`, `&&` between blanks, or `;`.
_COMMAND_BREAK = re.compile(r"([ \t](?:\|\|?|&&)[ \t]|;[ \t]|;$)")
_ANY_TOOL = re.compile("|".join(tool for tool, _, _ in _TOOL_FLAGS))


@functools.cache
def _tool_flags() -> tuple[tuple[re.Pattern[str], re.Pattern[str], int], ...]:
    return tuple((re.compile(tool), re.compile(flags), n) for tool, flags, n in _TOOL_FLAGS)


def redact(text: str) -> str:
    text = _KEY_VALUE.sub(_mask_value, text)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    if _ANY_TOOL.search(text):
        text = "\n".join(_redact_tool_flags(line) for line in text.split("\n"))
    return _AWS_KEY_ID.sub(MASK, text)


def _redact_tool_flags(line: str) -> str:
    # Each command of a pipeline or list is looked at on its own, from the program's
    # first appearance on: a later one is an argument (htpasswd -b /etc/htpasswd ...).
    pieces = _COMMAND_BREAK.split(line)
    for index in range(0, len(pieces), 2):  # the odd ones are the separators
        piece = pieces[index]
        for tool, flags, count in _tool_flags():
            found = tool.search(piece)
            if found:
                piece = piece[: found.end()] + flags.sub(_mask, piece[found.end() :], count=count)
        pieces[index] = piece
    return "".join(pieces)


def _mask_value(match: re.Match[str]) -> str:
    prefix, key_quote, value = match.groups()
    # JSON ("password": "x") keeps its quotes so the document stays JSON;
    # a shell's password='two words' loses the quoted value whole.
    quoted = key_quote and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    return prefix + (value[0] + MASK + value[0] if quoted else MASK)


def _mask(match: re.Match[str]) -> str:
    groups = match.groups()
    return groups[0] + MASK + (groups[2] if len(groups) > 2 else "")
