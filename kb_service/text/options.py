"""Finding the options of a profile by name in text (pure).

"Use **Action or API-triggered Campaigns**", "Campagnes orchestrées", "journey or
campaign?": the catalog finds which options a piece of text names, and where. Names are
matched longest first on word boundaries, so "orchestrated campaigns" is never also read as
"campaigns"; the product's own name ("Journey Optimizer") is masked first, so it is never
read as "journey". With no profile the catalog is empty and finds nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from kb_service.types import OptionSpec, Profile

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_MARKUP = re.compile(r"\*\*|__|[*_`\[\]]")


@lru_cache(maxsize=65536)  # the same names and unit texts are folded for every question
def fold(text: str) -> str:
    """Lower case, NFC, plain apostrophes, no Markdown emphasis: how names are compared."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    return " ".join(_MARKUP.sub("", text).lower().split())


@dataclass(frozen=True)
class Mention:
    option_id: str
    start: int
    end: int


class OptionCatalog:
    """The options of one profile, with a matcher per language."""

    def __init__(self, profile: Profile | None) -> None:
        self.options: dict[str, OptionSpec] = {o.option_id: o for o in (profile.options if profile else ())}
        self._product = None
        if profile and profile.product_names:
            names = sorted((fold(n) for n in profile.product_names), key=len, reverse=True)
            self._product = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, names)) + r")(?!\w)")
        self._patterns: dict[str, tuple[re.Pattern, dict[str, str]]] = {}
        languages = {lang for o in self.options.values() for lang in o.names}
        for lang in languages:
            by_name: dict[str, str] = {}
            for option in self.options.values():
                for name in option.names.get(lang, ()):
                    by_name.setdefault(fold(name), option.option_id)
            names = sorted(by_name, key=len, reverse=True)
            if names:
                pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, names)) + r")(?![\w-])")
                self._patterns[lang] = (pattern, by_name)

    def __bool__(self) -> bool:
        return bool(self.options)

    def label(self, option_id: str, lang: str) -> str:
        option = self.options[option_id]
        return option.labels.get(lang) or next(iter(option.labels.values()), option_id)

    def members(self, option_id: str) -> tuple[str, ...]:
        option = self.options.get(option_id)
        return option.members if option else ()

    def expand(self, option_ids) -> set[str]:
        """Option ids with every group replaced by its members (and kept itself)."""
        out: set[str] = set()
        for option_id in option_ids:
            out.add(option_id)
            out.update(self.members(option_id))
        return out

    def mentions(self, text: str, lang: str) -> list[Mention]:
        """Every option name in ``text`` (folded), in order; none in the product's own name."""
        compiled = self._patterns.get(lang)
        if compiled is None:
            return []
        pattern, by_name = compiled
        folded = fold(text)
        if self._product is not None:
            folded = self._product.sub(lambda m: "#" * len(m.group(0)), folded)
        return [Mention(by_name[m.group(0)], m.start(), m.end()) for m in pattern.finditer(folded)]

    def named(self, text: str, lang: str) -> list[str]:
        """The distinct options ``text`` names, in order of first mention."""
        seen: list[str] = []
        for mention in self.mentions(text, lang):
            if mention.option_id not in seen:
                seen.append(mention.option_id)
        return seen

    def named_at_start(self, text: str, lang: str, window: int = 40) -> str | None:
        """The option a text opens with ("Journeys for behavioral …", "→ Use Journeys")."""
        mentions = self.mentions(text, lang)
        if not mentions:
            return None
        folded = fold(text)
        opening = re.sub(r"^[^\w]*(?:use|utiliser|utilisez|choose|choisir)?\s*(?:des|les|an?|the)?\s*", "", folded)
        offset = len(folded) - len(opening)
        first = mentions[0]
        return first.option_id if first.start - offset <= 2 and first.start < window else None

    def sole(self, text: str, lang: str) -> str | None:
        """The one option ``text`` names (a label, a cell), else None ("A or B" names two).

        A group and one of its own members count as one: "Campaigns (Action & API)"."""
        named = self.named(text, lang)
        if not named:
            return None
        groups = [n for n in named if self.members(n)]
        if len(named) == 1:
            return named[0]
        # "Use Action or API-triggered Campaigns": the members of one group, named together.
        for group in groups:
            if set(named) <= {group, *self.members(group)}:
                return group
        members = {m for n in named for m in self.members(n)}
        singles = [n for n in named if n not in members and not self.members(n)]
        if not groups and len(set(named)) == 2:
            for option in self.options.values():
                if set(named) == set(option.members):
                    return option.option_id
        return None if len(singles) != 1 or groups else singles[0]
