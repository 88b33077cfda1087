"""Profiles: what is specific to one product's documentation, kept as data.

A profile is a folder holding ``profile.toml`` (the options a comparison guide compares,
with their names per language; the product's own names; the comparison pages; a
vocabulary of everyday words for the docs' words) and, optionally, ``calibration.json``
(the fitted answerability model). ``journey_optimizer`` ships with kb. The engine runs
without a profile: it then answers from any documentation and names no option.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from kb_service.types import OptionSpec, Profile

BUNDLED = Path(__file__).resolve().parent
# Profile names as configured ("journey-optimizer") -> bundled folder names.
_ALIASES = {"journey-optimizer": "journey_optimizer"}
NO_PROFILE = ("", "none", "off")


class ProfileError(ValueError):
    """A profile that cannot be read, with what is wrong and where."""


def load_profile(ref: str | Path | None) -> Profile | None:
    """The profile named ``ref`` (a bundled name) or stored at ``ref`` (a folder or its
    profile.toml); None for no profile ("", "none", "off" or None)."""
    if ref is None or str(ref).strip().lower() in NO_PROFILE:
        return None
    folder = _locate(str(ref).strip())
    try:
        data = tomllib.loads((folder / "profile.toml").read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"profile {ref!r}: cannot read {folder / 'profile.toml'} ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {ref!r}: {folder / 'profile.toml'} is not valid TOML ({exc})") from exc
    calibration = None
    calibration_file = folder / "calibration.json"
    if calibration_file.is_file():
        try:
            calibration = json.loads(calibration_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ProfileError(f"profile {ref!r}: {calibration_file} is not valid JSON ({exc})") from exc
    return profile_from_data(data, calibration, where=str(folder))


def _locate(ref: str) -> Path:
    path = Path(ref)
    if path.name == "profile.toml":
        path = path.parent
    if path.is_dir():
        return path
    bundled = BUNDLED / _ALIASES.get(ref, ref)
    if (bundled / "profile.toml").is_file():
        return bundled
    known = sorted(p.parent.name for p in BUNDLED.glob("*/profile.toml"))
    raise ProfileError(f"no profile {ref!r}: give a folder holding profile.toml, or one of {known} (or 'none')")


def profile_from_data(data: dict, calibration: dict | None = None, *, where: str = "profile") -> Profile:
    """A Profile from parsed profile.toml data, checked: every option has an id and names."""
    options = []
    ids = set()
    for number, item in enumerate(data.get("options", []), start=1):
        option_id = item.get("id")
        if not option_id or not isinstance(option_id, str):
            raise ProfileError(f"{where}: option {number} has no id")
        names = {lang: tuple(str(n).lower() for n in values) for lang, values in (item.get("names") or {}).items()}
        if not any(names.values()):
            raise ProfileError(f"{where}: option {option_id!r} has no names")
        options.append(
            OptionSpec(
                option_id=option_id,
                labels=dict(item.get("labels") or {}),
                names=names,
                members=tuple(item.get("members") or ()),
            )
        )
        ids.add(option_id)
    for option in options:
        unknown = set(option.members) - ids
        if unknown:
            raise ProfileError(f"{where}: option {option.option_id!r} has unknown members {sorted(unknown)}")
    def groups(key: str) -> dict[str, tuple[tuple[str, ...], ...]]:
        return {
            lang: tuple(tuple(str(word) for word in group) for group in groups_)
            for lang, groups_ in (data.get(key) or {}).items()
        }

    vocabulary, needs = groups("vocabulary"), groups("needs")
    return Profile(
        name=str(data.get("name") or Path(where).name),
        options=tuple(options),
        product_names=tuple(str(n).lower() for n in data.get("product_names", ())),
        comparison_pages=tuple(data.get("comparison_pages", ())),
        vocabulary=vocabulary,
        needs=needs,
        calibration=calibration,
    )
