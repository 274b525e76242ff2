"""Whether the state directory can be trusted, checked the way ssh's StrictModes does.

The wrapper often runs as root. If another user could write in the state
directory, or in any directory above it, that user could plant links there
(`locks/NAME.lock` -> /etc/shadow) or swap the directory for one of their own,
and root would then truncate, append to or overwrite files of the attacker's
choosing. So before the wrapper touches the directory, every directory from it
up to `/` must be owned by the wrapper's user or by root and be writable by
nobody else; a link on the way must be owned by one of them too.

Two exceptions, both about who can change an entry, not who can add one:
- a root-owned directory with the sticky bit (`/tmp`, mode 1777) above the state
  directory: others may add entries in it but cannot rename or remove ours, so
  what lies below is still ours alone. ssh refuses even this; we accept it so
  that a state directory under /tmp (tests, demos) works, and only as an
  ancestor: the state directory itself, and everything between it and the
  sticky directory, must still be ours.
- a group-writable directory whose group is its owner's private group (the
  owner is its only member), as Debian's ssh allows: with a umask of 002 a
  user's own directories are created that way.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import stat

_DIRECTORY_NOFOLLOW = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

TRUST_FIX = (
    "Every directory from it up to / must belong to the wrapper's user or root and be "
    "writable by no one else (chown, chmod go-w), or pass --state-dir"
)


def untrusted_reason(root: str) -> str | None:
    """Why the state directory at `root` (which need not exist yet) cannot be
    trusted, or None when it can. Missing parts are skipped: the wrapper creates them."""
    uid = os.geteuid()
    lexical = os.path.abspath(root)
    for index, path in enumerate(_upwards(lexical)):
        problem = _check(path, uid, is_root=index == 0, follow=False)
        if problem:
            return problem
    real = os.path.realpath(lexical)
    if real != lexical:
        for index, path in enumerate(_upwards(real)):
            problem = _check(path, uid, is_root=index == 0, follow=True)
            if problem:
                return problem
    return None


def prepare_state_dir(root: str) -> str | None:
    """Check `root`, create what is missing of it (0750), and check it again now that
    it exists. The reason it cannot be trusted, or None. OSError if it cannot be made."""
    problem = untrusted_reason(root)
    if problem is None and not os.path.isdir(root):
        problem = _make_own_dirs(root) or untrusted_reason(root)
    return problem


def _make_own_dirs(root: str) -> str | None:
    """Create the missing directories of `root` one at a time, each relative to a
    descriptor of its parent, and take each only once it is open without following a
    link and it passes the checks above. Under a sticky directory another user may
    plant a link or a directory of theirs in a missing place between the check and
    the creation (os.makedirs would follow the link, as root, and make directories
    wherever it pointed): that is refused, never followed. None when all is ours."""
    uid = os.geteuid()
    path = os.path.abspath(root)
    missing: list[str] = []
    while not os.path.lexists(path):
        path, name = os.path.split(path)
        missing.append(name)
    # The part that exists has passed untrusted_reason: ours or root's up to /, so no
    # one else can swap it for something else (a sticky directory keeps our entries).
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in reversed(missing):
            path = os.path.join(path, name)
            # mkdir never follows a link in its place; what someone made there meanwhile
            # is checked below like anything else.
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o750, dir_fd=fd)
            try:
                below = os.open(name, _DIRECTORY_NOFOLLOW, dir_fd=fd)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    return f"{path} appeared as a link or a file while it was being created"
                raise
            os.close(fd)
            fd = below
            problem = _problem(path, os.fstat(fd), uid, sticky_ok=False)
            if problem:
                return f"{problem} (it appeared while the wrapper was creating it)"
    finally:
        os.close(fd)
    return None


def check_own_dir(path: str) -> None:
    """A subdirectory of a trusted state directory must be a real directory (not a
    link) that only the wrapper's user or root can write. PermissionError if not."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        problem = _problem(path, st, os.geteuid(), sticky_ok=False)
    else:
        problem = f"{path} is not a directory"
    if problem:
        raise PermissionError(errno.EPERM, problem, path)


def _upwards(path: str) -> list[str]:
    """`path`, its parent, and so on up to `/`."""
    chain = [path]
    while (parent := os.path.dirname(chain[-1])) != chain[-1]:
        chain.append(parent)
    return chain


def _check(path: str, uid: int, *, is_root: bool, follow: bool) -> str | None:
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        return None  # to be created by the wrapper, as its own
    except OSError as error:
        return f"cannot inspect {path} ({error.strerror})"
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid not in (0, uid):
            return f"{path} is a link owned by {owner_name(st.st_uid)}"
        return None  # its target is checked on the resolved path
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    return _problem(path, st, uid, sticky_ok=not is_root)


def _problem(path: str, st: os.stat_result, uid: int, *, sticky_ok: bool) -> str | None:
    if st.st_uid not in (0, uid):
        return f"{path} is owned by {owner_name(st.st_uid)}"
    mode = st.st_mode
    if mode & stat.S_IWOTH:
        if sticky_ok and mode & stat.S_ISVTX and st.st_uid == 0:
            return None
        return f"{path} is writable by others (mode {stat.S_IMODE(mode):04o})"
    if mode & stat.S_IWGRP and not _is_private_group(st.st_gid, st.st_uid):
        return f"{path} is writable by group {_group(st.st_gid)} (mode {stat.S_IMODE(mode):04o})"
    return None


def _is_private_group(gid: int, owner: int) -> bool:
    """The owner's primary group, with no other member: writable by the owner alone."""
    try:
        account = pwd.getpwuid(owner)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return account.pw_gid == gid and all(member == account.pw_name for member in group.gr_mem)


def owner_name(uid: int) -> str:
    """`user NAME`, or `uid N` for an account that has no name."""
    try:
        return f"user {pwd.getpwuid(uid).pw_name}"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)
