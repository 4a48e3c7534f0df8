"""Issued passwords: random, different for every account, meeting the profile's policy.

slapd's root DN, which the lifecycle commands bind as, is not checked by ppm, so govmail checks what it
issues against the same rule the directory applies to users (length and classes from the profile).
"""

from __future__ import annotations

import secrets

from govmail.errors import GovmailError
from govmail.model.settings import PasswordPolicy, Settings

# Characters easily misread on a printed hand-over sheet are left out of issued passwords.
AMBIGUOUS = set("Il1O0o|`'\"")


class PasswordRefused(GovmailError):
    exit_code = 5


def violations(policy: PasswordPolicy, password: str, min_length: int, personal: list[str] = ()) -> list[str]:
    """What is wrong with `password`; `personal`: words of the holder's data it must not contain."""
    problems = []
    folded = password.lower()
    problems += [f"contains personal data '{word}'" for word in personal if len(word) >= 3 and word in folded]
    if len(password.encode()) < min_length:
        problems.append(f"shorter than {min_length} characters")
    for name, chars in policy.class_chars.items():
        if not any(c in chars for c in password):
            problems.append(f"no {name} character")
    return problems


def issue(settings: Settings, personal: list[str] = ()) -> str:
    policy = settings.policies["users"]
    pools = {name: "".join(c for c in chars if c not in AMBIGUOUS) for name, chars in policy.class_chars.items()}
    everything = "".join(pools.values())
    chars = [secrets.choice(pool) for pool in pools.values()]
    chars += [secrets.choice(everything) for _ in range(settings.issued_min_length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    password = "".join(chars)
    problems = violations(policy, password, settings.issued_min_length, personal)
    if any(p.startswith("contains personal data") for p in problems):
        return issue(settings, personal)      # a chance hit on a name: draw again
    if problems:     # a profile whose classes leave nothing to draw from
        raise PasswordRefused(f"cannot issue a password for {settings.province}: {', '.join(problems)}")
    return password
