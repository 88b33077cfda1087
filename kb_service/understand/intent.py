"""What a question asks for (pure): choose, howto, whatis, can, quantity, smalltalk, other.

Read from the question's own asking words, in English and French, not from its subject: a
long scenario ("we run a ski resort … journey or campaign?") is a choice because of how it
ends, and "how do I set up a journey?" is a how-to although it names an option. The options
come from the profile (``OptionCatalog``): with no profile, "choose" is still recognised
from asking words ("which option should we use?"), never from product names.

Where a question holds several asks, the last one decides ("what's a journey? and would it
fit our newsletter, or a campaign?" asks to choose): people put the question last.
"""

from __future__ import annotations

import re

from kb_service.text.options import OptionCatalog, fold

_FLAGS = re.I | re.X

# Asking to choose between options, whatever they are.
_CHOOSE = {
    "en": re.compile(
        r"""\b(which|what)\s+(approach|option|one|type|kind|tool|solution|method)\b(?!\s+of\b)
          | \b(which|what)\s+[\w-]+\s+(approach|option|tool|solution)s?\b(?!\s+of\b)
          | \b(which|what)\b(?!\s+(range|values?|numbers?|limits?|size|duration|maximum|minimum|amount)\b)[^?.]{0,50}\b(should|would|do|does|could|can)\s+(i|we|you|they)\s+(use|pick|choose|go\s+with|recommend|opt|build|create|set\s+(it|this|that)\s+up\s+as)
          | \b(which|what)\s+(kind|type|sort)\s+of\s+(setup|set-up|tool|solution|approach|option|thing|send|sending)\b
          | \b(should|would)\s+(i|we)\s+(use|go\s+with|pick|choose|build|opt|set\s+(it|this|that)\s+up\s+as)\b[^?.]{0,60}\bor\b
          | \b(recommend|recommended|recommendation|suggest)\b
          | \bbest\s+(approach|option|choice|fit|way\s+to\s+go|tool)\b
          | \b(right|best|better|simplest|easiest|quickest|best-suited)\s+(approach|option|choice|fit|tool|one)\b
          # "the simplest way to send one message": which option does it most simply. Matched
          # empty, so that the need keeps "simplest", the criterion of the choice.
          | (?:(?<=simplest\sway\sto)|(?<=easiest\sway\sto)|(?<=quickest\sway\sto))\b
          | \bwhich\s+(is|one\s+is|would\s+be|fits|suits)\b
          | \bwhich\s+of\s+(them|both|(the|these|those|your|our)\s+(\w+\s+)?(two|three|four|options?|approach(es)?|kinds|types|ones|tools|solutions))\b
          | \bor\s+(something|anything)\s+else\b
          | \bwhat\s+(would|should|do)\s+(you|we|i)\s+(set\s+up|suggest|advise)\b
          | \bwhat\s+(fits|suits|works\s+best)\b
          | \b(which|what)\s+(\w+\s+)?(feature|product|functionality)\s+(does|do|would|should|fits|suits|handles?|lets|covers?)\b
          | \b(is\s+(it|this|that)|are\s+(these|they))\s+(a|an)?\s*\w*\s*(or)\b
          | \bor\s+(a|an)?\s*\w*\s*\?\s*$
          | \bapproach\b(?!\s+optimizer)""",
        _FLAGS,
    ),
    "fr": re.compile(
        r"""\bquel(le)?\s+(approche|option|type|outil|solution|m[ée]thode|choix)\b(?!\s+(de|du|des)\b|\s+d')
          | \b(lequel|laquelle|lesquel(le)?s)\b
          | \b(recommand|conseill|pr[ée]conis|sugg[ée]r)\w*
          | \b(meilleur|meilleure|mieux|plus\s+simple|plus\s+adapt[ée]e?)\b
          | \b(plut[ôo]t)\b
          | \b(j'utilise|on\s+utilise|utiliser|choisir|prendre|partir\s+sur|je\s+pars\s+sur|on\s+part\s+sur|je\s+prends|on\s+prend)\s+quoi\b
          # "je choisis quoi ?", "on crée quoi ?": what to pick or build, asked of the verb
          | \b(je|j'|on|nous)\s*(choisis|choisit|choisissons|cr[ée]e|cr[ée]ons|monte|montons|mets|met|mettons)\s+quoi\b
          | \bquel(le)?s?\s+(type|genre|sorte)\s+(d'|de\s+)(envoi|campagne|outil|approche|solution|dispositif)
          | \bquoi\s+(utiliser|choisir|prendre)\b
          | \bquel(le)?\s+(fonctionnalit[ée]|produit)\s+(fait|permet|g[eè]re|couvre|convient|utiliser)\b
          | \bou\s+(quelque\s+chose\s+d'autre|autre\s+chose)\b
          | \bque\s+(faut-il|dois-je|devons-nous|doit-on)\s+(utiliser|choisir|prendre|mettre\s+en\s+place)\b
          | \bqu'est-ce\s+(qu'on|que\s+(je|nous))\s+(utilise|prend|prends|choisi[st]?|prenons|utilisons)\b
          # with a modal verb: "qu'est-ce que je dois utiliser ?", "qu'est-ce qu'on devrait prendre ?"
          | \bqu'est-ce\s+(qu'on|que\s+(je|nous|j'))\s*(dois|doit|devons|devrais|devrait|devrions|peux|peut|pouvons|vais|va|allons)\s+(utiliser|prendre|choisir|mettre\s+en\s+place)\b
          | \b(faisable|possible|le\s+faire|monte|montes|monter|fait|faire)\s+(avec|dans|sur)\s+quoi\b
          | \b(c'est|est-ce)\s+(un|une)?\s*\w*\s*ou\b
          | \bou\s+(un|une)?\s*\w*\s*\?\s*$
          | \bapproche\b""",
        _FLAGS,
    ),
}
_HOWTO = {
    "en": re.compile(
        r"""\bhow\s+(do|can|should|would|could|to|does)\b(?!\s+(i|we|you)\s+(know|tell|decide|choose|pick))
          | \bsteps?\s+(to|for)\b | \b(process|procedure)\s+(for|to)\b | \bwalk\s+me\s+through\b | (?<!of\s)(?<!you\s)(?<!we\s)(?<!\bi\s)\bset\s*up\b | \bconfigure\b | \bwhere\s+(do|can)\s+(i|we)\b
          # "the recommended way to use that data in a journey" asks how to do a task; "the best
          # way to send them reminders" may still ask which option sends them, so not "send"
          | \b(recommended|best|right|proper)\s+way\s+to\s+(use|get|set|connect|bring|handle|build|do)\b""",
        _FLAGS,
    ),
    "fr": re.compile(
        r"""\bcomment\b(?!\s+(savoir|choisir|d[ée]cider))
          | \b[ée]tapes?\s+(pour|de)\b | \bproc[ée]dure\s+(pour|de)\b | \bo[uù]\s+(est-ce\s+qu(e|')\s*(je|j'|on|nous)|puis-je|peut-on|je\s+peux|on\s+peut) | \bconfigurer\b | \bparam[ée]trer\b""",
        _FLAGS,
    ),
}
_WHATIS = {
    "en": re.compile(
        r"""^\W*(what|who)('s|\s+is|\s+are|\s+does)\b | \bwhat\s+(is|are)\s+(a|an|the)?\s*\w+ | \bmeaning\s+of\b | \bdefin(e|ition)\b
          | \bdiff(erence)?s?\b | \bwhat\s+does\b[^?]{0,40}\bmean\b | \bexplain\b""",
        _FLAGS,
    ),
    "fr": re.compile(
        r"""\bc'est\s+quoi\b | \bqu'est[- ]ce\s+(que|qu')\b | \bqu'est-ce\b | \bd[ée]finition\b | \bque\s+(signifie|veut\s+dire)\b
          | \bdiff([ée]rence)?s?\b | \bc\s+koi\b | \bexpliqu""",
        _FLAGS,
    ),
}
_CAN = {
    "en": re.compile(
        r"""^\W*(can|could|may|is|are|does|do|will|would)\s+(i|we|you|it|they|a|an|the|my|our|journeys?|campaigns?|\w+s?)\b
          | \bis\s+it\s+possible\b | \b(can|could)\s+(i|we|you)\b | \bpossible\b | \bsupport(s|ed)?\b | \ballowed\b
          | \b(am|are|is)\s+(i|we|you|it|they)\s+(still\s+)?able\s+to\b
          # "does it work with SMS?"; "to work on those" is a task, not whether something works
          | (?<!\bto\s)\bwork(s)?\s+(too\s+|also\s+)?(with|in|for|on)\b""",
        _FLAGS,
    ),
    "fr": re.compile(
        r"""\b(peut-on|puis-je|pouvons-nous|peut-il|peuvent-ils|est-il\s+possible|est-ce\s+possible|est-ce\s+qu)
          | \bpossible\b | \bon\s+peut\b | \bje\s+peux\b | \bprend(s|re|nent)?\s+en\s+charge\b | \bcompatible\b
          | \b(fonctionne|marche)(nt)?\s+(aussi\s+|bien\s+|[ée]galement\s+)?(avec|dans|pour|en)\b""",
        _FLAGS,
    ),
}
_QUANTITY = {
    "en": re.compile(
        r"""\bhow\s+(many|much|long|often|big|large|soon|fast)\b | \b(max|maximum|minimum|min|limit|limits|quota|cap|ceiling)\b
          | \bup\s+to\s+how\b | \bnumber\s+of\b | \bduration\b | \bretention\b | \bhow\s+far\b | \brange\b
          | \b(lowest|highest|peak|longest|shortest|fastest)\b""",
        _FLAGS,
    ),
    "fr": re.compile(
        r"""\bcombien\b | \b(max|maximum|maximal|maximale|minimum|limite|limites|quota|plafond)\b | \bnombre\s+(de|d')\b
          | \bdur[ée]e\b | \bd[ée]lai\b | \br[ée]tention\b | \bjusqu'[àa]\s+quand\b | \bplage\b
          | \b(plus\s+long|plus\s+court|au\s+plus|au\s+moins)\b""",
        _FLAGS,
    ),
}
_PRICE = {
    "en": re.compile(
        r"\bhow\s+much\b[^?]*\b(cost|pay|charge)|\b(cost|price|fee|fees)\s+(of|for|per)\b|\bwhat\s+(is|are|'s)\s+the\s+(cost|price|pricing|fees?)\b"
        r"|\bpricing\b|\blicen[cs]e\s+(cost|price|fee)s?\b|\b(cost|price)s?\s*\?",
        re.I,
    ),
    # "facturé" is what one is charged; "facture", "facturation" are the asker's invoices and
    # billing system ("quand une facture est disponible"), not a question about price.
    "fr": re.compile(r"\bcombien\s+co[uû]te|\b(co[uû]t|prix|tarif)s?\b|\btarification\b|\bfactur(é|ée|és|ées)(?!\w)", re.I),
}
# The asker's own pricing system is not a question about price ("our pricing engine").
_OWN_PRICING_SYSTEM = re.compile(
    r"\b(pricing|tarification|price)\s+(tool|engine|system|team|platform|service|api|update|change|drop)s?\b"
    r"|\b(outil|moteur|syst[eè]me|[ée]quipe|plateforme|service)s?\s+de\s+(pricing|tarification|prix)\b|\bbaisse\s+de\s+prix\b",
    re.I,
)
# "What does journey capping limit?": the verb, not a limit asked for.
_LIMIT_AS_VERB = re.compile(r"\b(what|which)\s+(does|do|can|will)\b[^?]*\blimits?\s*\?*\s*$", re.I)
# A figure asked for outright outweighs a choice word in the same ask ("how many emails do
# you recommend?" wants the number).
# "How can I see how many people are in my journey?" asks how to find the figure out, not
# the figure.
_FINDING_OUT = {
    "en": re.compile(r"\bhow\s+(can|do|could|would)\s+(i|we|you)\s+(see|check|know|find\s+out|tell|view|track|monitor|get)\b", re.I),
    "fr": re.compile(r"\bcomment\s+(voir|savoir|conna[iî]tre|v[ée]rifier|suivre)\b"
                     r"|\bcomment\s+(je\s+peux|puis-je|peut-on|on\s+peut)\s+(voir|savoir|conna[iî]tre|v[ée]rifier|suivre)\b", re.I),
}
_STRONG_QUANTITY = {
    "en": re.compile(r"\bhow\s+(many|much|long|often)\b", re.I),
    "fr": re.compile(r"\bcombien\b|\bquelle\s+dur[ée]e\b", re.I),
}
# A question opening with an auxiliary asks yes or no, whatever figure it mentions.
_YES_NO_OPENING = {
    "en": re.compile(r"^\W*(can|could|may|will|would|is\s+it|is\s+there|are\s+there|do|does)\s+(i|we|you|it|they|there|one|a|an|the|my|our)\b", re.I),
    "fr": re.compile(r"^\W*(peut-on|puis-je|pouvons-nous|est-ce\s+qu|est-il\s+possible|on\s+peut|je\s+peux)", re.I),
}
_INSTANCE_LABEL = re.compile(r"\s+\w\b")
# Naming options is choosing between them only when the ask sets them side by side.
_BETWEEN = re.compile(r"\b(or|ou|vs\.?|versus|between|entre|plut[ôo]t)\b", re.I)
_VERSUS = re.compile(r"\b(vs\.?|versus)(?!\w)", re.I)
# "Which one should we use?" still chooses when it also asks what something is.
_ASKS_ADVICE = re.compile(r"recommend|conseil|best|meilleur|mieux|should|dois|devrait|fit|adapt"
                          r"|qu'est-ce\s+(qu'on|que\s+(je|nous))\s+(utilise|prend|choisi)|\bright\s+(tool|approach|option|choice|one)"
                          r"|simplest|easiest|ideal|id[ée]al|bon(ne)?\s+(outil|approche|option|choix)", re.I)
# A what-question about the steps or the process of doing something asks how to do it.
_STEPS_ASKED = re.compile(r"\bwhat('s|\s+is|\s+are)\s+the\s+(steps?|process|procedure)\b"
                          r"|\bquel(le)?s?\s+(est|sont)\s+(la|les)\s+(proc[ée]dure|[ée]tapes)\b", re.I)
# French asks yes or no by intonation alone: a question without a question word.
_FR_QUESTION_WORD = re.compile(
    r"\b(quoi|quel|quelle|quels|quelles|comment|combien|o[uù]|quand|pourquoi|lequel|laquelle|koi)\b"
    # "que", "qu'on" and "qui" inside a sentence join a clause ("celles qui sont planifiées")
    r"|\bqu'est|^\W*(que|qu'|qui|[àa]\s+qui|pour\s+qui)\b", re.I
)
# Where the last ask starts: after a question mark, or after a full stop that ends a
# sentence, capital or not (chat is often lower case), but not an abbreviation's ("e.g.
# once per order?" stays one sentence).
_ASK_SPLIT = re.compile(r"(?<=\?)\s+|(?<![\s(]e\.g\.)(?<![\s(]i\.e\.)(?<!\betc\.)(?<!\bvs\.)(?<!\bex\.)(?<=[.!])\s+(?=\w)")
_LEADING_LINK = re.compile(r"^\W*(and|also|so|ok|okay|but|then|et|aussi|alors|donc|mais|puis|sinon)\b[\s,]*", re.I)


LISTED_ASK_WORDS = 3  # "Action campaign?" in a run of such questions


def last_ask(question: str) -> str:
    """The last sentence holding a question mark, else the last sentence, without a leading
    "and" / "et" that ties it to the one before."""
    sentences = [s for s in _ASK_SPLIT.split(question.strip()) if s.strip()]
    asking = [s for s in sentences if "?" in s]
    ask = asking[-1] if asking else (sentences[-1] if sentences else question)
    # "Journey? Action campaign? Orchestrated campaign?": a closing run of questions of a few
    # words lists alternatives, one ask, not several.
    run = 0
    while run < len(sentences) and "?" in sentences[-1 - run] and len(sentences[-1 - run].split()) <= LISTED_ASK_WORDS:
        run += 1
    if run >= 2:
        ask = " ".join(sentences[-run:])
    return _LEADING_LINK.sub("", ask) or ask


# "Which campaign type?", "quel type de campagne ?": asking which one kind of an option to
# use. The plural asks for the list ("what campaign types are there?").
_WHICH_BEFORE = re.compile(
    r"\b(which|what|quel(le)?)(?P<kind>\s+(kind|type|sort)\s+of|\s+(type|genre|sorte)\s+(de\s+|d'))?\s*$")
_KIND_AFTER = re.compile(r"\s*(type|kind|sort)\b")


# "Which of journeys, action or orchestrated campaigns …?": choosing among the options named.
_WHICH_OF = re.compile(r"\bwhich\s+of\s+(the\s+)?", re.I)


def _which_of_options(ask: str, mentions) -> bool:
    return any(m.start == match.end() for match in _WHICH_OF.finditer(ask) for m in mentions)


# "… Is that a journey?", "c'est un parcours ?": whether the need told before is one option's
# job, which is asking which option fits it; the ask is the name and little else.
_IS_IT = re.compile(r"(?:^|[,;:])\W*(?:is\s+(?:that|this|it)|would\s+(?:that|this|it)\s+be|(?:c'est|est-ce)(?:\s+bien)?)\s+(?:an?\s+|une?\s+)?", re.I)


def _is_it_an_option(ask: str, mentions) -> bool:
    return any(m.start == opening.end() and not re.search(r"\w", ask[m.end:])
               for opening in _IS_IT.finditer(ask) for m in mentions)


def _asks_which_kind(ask: str, mentions, catalog: OptionCatalog) -> bool:
    """Which one of a group's members ("which campaign type?" between action and API-triggered
    campaigns); "which journey type?" asks for a kind of one option, not between options."""
    for mention in mentions:
        if not catalog.members(mention.option_id):
            continue
        before = _WHICH_BEFORE.search(ask[: mention.start])
        if before and (before.group("kind") or _KIND_AFTER.match(ask, mention.end)):
            return True
    return False


# "Which channels can I use …?", "what timeout should I use?": asking which things of one
# kind (channels, timeouts) can or should be used, not which of the guide's options. Choice
# nouns and option names still choose ("which campaigns should we use?", "which one?").
_LIST_ASK = re.compile(
    r"\b(which|what)\s+(?:\w+\s+)?(?P<things>\w+)\s+(can|could|do|does|should|would)\s+(i|we|you|they)\s+(use|set|send|pick|add|choose)\b")
_CHOICE_NOUNS = {"option", "options", "approach", "approaches", "tool", "tools", "kind", "kinds", "type", "types",
                 "solution", "solutions", "method", "methods", "one", "ones", "feature", "features", "product", "products"}


def _without_list_asks(ask: str, mentions) -> str:
    def keep_or_drop(match: re.Match) -> str:
        things = match.group("things")
        named = any(m.start < match.end("things") and m.end > match.start("things") for m in mentions)
        return match.group(0) if things in _CHOICE_NOUNS or named else " "

    return _LIST_ASK.sub(keep_or_drop, ask)


_LIST_SEPARATOR = re.compile(r"\s*[,/?]\s*")


def _between(ask: str, mentions) -> bool:
    """An "or" / "vs" stands between the options named ("journey or campaign?"), or "between"
    / "plutôt" before the last of them. "Can I convert a campaign into a journey, or the other
    way round?" names two options, but its "or" joins two conversions, not the options."""
    first, last = mentions[0], mentions[-1]
    for word in _BETWEEN.finditer(ask):
        opens = word.group(1).lower().startswith(("between", "entre", "plut"))
        if word.start() < last.start and (opens or word.start() >= first.end):
            return True
    return False


def _listed(ask: str, mentions) -> bool:
    """Options listed one after the other ("journey, campaign, something else?", "journey /
    campaign?"): set side by side as much as with "or"."""
    return any(_LIST_SEPARATOR.fullmatch(ask[a.end:b.start]) for a, b in zip(mentions, mentions[1:]))


def asks_yes_no(question: str, lang: str) -> bool:
    """The question asks yes or no in words of its own ("ça marche aussi pour les SMS ?"),
    not only by intonation ("et pour les SMS ?")."""
    pattern = _CAN.get(lang, _CAN["en"])
    return bool(pattern.search(fold(last_ask(question))))


# "différentes commandes" is not a comparison: the nouns and verbs only.
_COMPARES = re.compile(r"\b(diff[ée]rences?|differ|diff[ée]rencie\w*|compar(?:e|es|er|ez|ed|ing|aison|ison)|vs\.?|versus)(?!\w)", re.I)


def asks_difference(question: str, lang: str) -> bool:
    """The question's ask is how things differ ("test mode vs dry run - what's the difference?")."""
    return bool(_COMPARES.search(last_ask(question)))


# What kind of figure an ask wants: a frequency, a duration, a rate (so many per unit of time)
# or a size. Phrases that by themselves ask for a figure ("how long", "per second", "the
# default rate") count in any question; a bare word that names a measure ("rate", "size")
# counts only in a quantity question: "what is rate control for?" names a feature. "How fast"
# is left out: the docs answer it in words ("in real time"). Other quantity questions ("how
# many journeys?") take any figure.
_MEASURE_ASKS = {
    "en": (
        ("frequency", r"\bhow\s+(often|frequently)\b", r"\bfrequency\b"),
        ("rate", r"\bper[\s-]+(second|minute|hour)\b", r"\b(rate|throughput)\b"),
        ("duration", r"\bhow\s+(long|soon)\b|\bhow\s+many\s+(seconds|minutes|hours|days|weeks|months|years)\b",
         r"\bduration\b|\bretention\b|\btime-?to-?live\b|\btimeout\b|\bdelay\b"),
        ("size", r"\bhow\s+(big|large|heavy)\b", r"\b(size|payload|weight|length)\b"),
    ),
    "fr": (
        ("frequency", r"\b[àa]\s+quelle\s+fr[ée]quence\b|\btous\s+les\s+combien\b", r"\bfr[ée]quence\b"),
        ("rate", r"\bpar[\s-]+(seconde|minute|heure)\b", r"\b(d[ée]bit|cadence)\b"),
        ("duration", r"\bcombien\s+de\s+temps\b|\bjusqu'[àa]\s+quand\b"
         r"|\bcombien\s+de\s+(secondes|minutes|heures|jours|semaines|mois|ann[ée]es|ans)\b",
         r"\bdur[ée]e\b|\bd[ée]lai\b|\br[ée]tention\b"),
        ("size", r"\bquelle\s+taille\b", r"\b(taille|poids|longueur)\b"),
    ),
}
# A value asked of a measure: "the default reading rate", "la taille maximale".
_VALUE_OF = {
    "en": r"\b(default|maximum|max|minimum|min|ideal|typical|recommended|average|optimal)\s+([\w-]+\s+){{0,2}}({weak})",
    "fr": r"({weak})(\s+[\w-]+){{0,2}}\s+(par\s+d[ée]faut|maximale?|minimale?|id[ée]ale?|moyenne?|recommand[ée]e?)\b",
}
_MEASURES = {
    lang: tuple(
        (measure, re.compile(rf"{strong}|{_VALUE_OF[lang].format(weak=weak)}", re.I), re.compile(weak, re.I))
        for measure, strong, weak in asks
    )
    for lang, asks in _MEASURE_ASKS.items()
}


def asks_measure(question: str, lang: str, *, quantity: bool) -> str:
    """The kind of figure the question's ask wants ("frequency", "duration", "rate", "size"),
    or "" for none or any. ``quantity``: the question asks for a figure at all."""
    ask = last_ask(question)
    for measure, strong, weak in _MEASURES.get(lang, _MEASURES["en"]):
        if strong.search(ask) or (quantity and weak.search(ask)):
            return measure
    return ""


# What a "how many" ask counts: in English the words after "how many" up to the verb ("how
# many reminder emails is …" counts reminder emails), in French the word after "combien de"
# ("combien de types d'audiences" counts types).
_COUNT_STOP = (r"can|could|are|is|do|does|did|will|would|should|of|in|on|per|at|for|with|there|may|might|must"
               r"|have|has|max|maximum|to|before|after|when|if|we|i|you")
_HOW_MANY = {
    "en": re.compile(rf"\bhow\s+many\s+((?:[\w-]+\s+){{0,3}}?[\w-]+)(?=\s+(?:{_COUNT_STOP})\b|\s*[?,.]|\s*$)", re.I),
    "fr": re.compile(r"\bcombien\s+(?:de|d['’])\s*([\w-]+)", re.I),
}


def counted_words(question: str, lang: str) -> tuple[str, ...]:
    """The words naming what a "how many / combien de" ask counts, or () when it counts none."""
    found = _HOW_MANY.get(lang, _HOW_MANY["en"]).search(last_ask(question))
    return tuple(found.group(1).lower().split()) if found else ()


def asks_price(question: str, lang: str) -> bool:
    """The question's ask is about a price. A price the asker's scenario mentions ("when a
    product's price drops, we want to warn … Parcours ou campagne ?") is their business, not
    what they ask for."""
    pattern = _PRICE.get(lang, _PRICE["en"])
    return bool(pattern.search(_OWN_PRICING_SYSTEM.sub(" ", last_ask(question))))


def classify(question: str, lang: str, catalog: OptionCatalog, *, small_talk: bool = False) -> str:
    """The intent of ``question`` (see kb_service.types.INTENTS)."""
    if small_talk:
        return "smalltalk"
    text = fold(question)
    ask = fold(last_ask(question))
    lang = lang if lang in _CHOOSE else "en"
    # Naming two options or more in the ask ("journey or campaign?") is choosing between them.
    mentions = catalog.mentions(ask, lang) if catalog else []
    # Two options side by side ("read audience journey or unitary journey?"), not two
    # instances of one ("journey A … journey B": a name followed by a one-character label).
    options_named = [m for m in mentions if not _INSTANCE_LABEL.match(ask, m.end)]
    side_by_side = len(options_named) >= 2 and (_between(ask, options_named) or _listed(ask, options_named))
    # "A vs B" chooses between options only when A and B are options ("journey vs campaign?");
    # "test mode vs dry run" asks for the difference.
    versus = bool(_VERSUS.search(ask))
    whatis = bool(_WHATIS[lang].search(ask)) or (versus and not side_by_side)
    choose = (side_by_side or _asks_which_kind(ask, mentions, catalog) or _which_of_options(ask, mentions)
              or _is_it_an_option(ask, mentions) or bool(_CHOOSE[lang].search(_without_list_asks(ask, mentions))))
    howto = bool(_HOWTO[lang].search(ask))
    quantity = bool(_QUANTITY[lang].search(_LIMIT_AS_VERB.sub(" ", ask))) or asks_price(ask, lang)
    strong_quantity = bool(_STRONG_QUANTITY[lang].search(ask))
    can = bool(_CAN[lang].search(ask)) or (
        lang == "fr" and ask.rstrip().endswith("?") and not _FR_QUESTION_WORD.search(ask)
    )
    if _YES_NO_OPENING[lang].search(ask) and not choose:
        # "Can I see exactly how many emails will go out?" asks yes or no.
        return "can"
    if whatis and howto and _STEPS_ASKED.search(ask):
        return "howto"  # "what are the steps to assign the role?", "what's the process for …?"
    if whatis and not quantity and not _ASKS_ADVICE.search(ask):
        # "What's the difference between a journey and a campaign?" wants an explanation.
        return "whatis"
    if strong_quantity and not _FINDING_OUT[lang].search(ask):
        return "quantity"
    if choose and not howto:
        if quantity and not side_by_side and not _CHOOSE[lang].search(re.sub(r"\bwhich\s+is\b", "", ask)):
            return "quantity"
        return "choose"
    if howto:
        return "howto"
    if quantity:
        return "quantity"
    if choose:
        return "choose"
    if can:
        return "can"
    # A scenario told as statements that ends without a question mark, naming what to send
    # to whom, still asks how to do it; everything else (keyword queries) is "other".
    if "?" not in text and _CHOOSE[lang].search(text):
        return "choose"
    return "other"


_ASKING_PHRASES = {
    "en": re.compile(
        r"\b(which|what)\b[^?.]{0,40}\b(should|would|do|does|could|can)\s+(i|we|you)\s+(use|pick|choose|go\s+with|recommend|build|do)\b"
        r"|\bwhat\s+do\s+you\s+recommend\b|\b(is\s+(it|this|that)|are\s+(these|they))\b|\bwhich\s+(one|is)\b"
        r"|\b(or\s+)?(something\s+else|another\s+option|other)\b|\bor\b",
        re.I,
    ),
    "fr": re.compile(
        r"\b(on\s+part\s+sur|je\s+prends|on\s+prend|j'utilise|on\s+utilise)\s+quoi\b|\bque\s+(me\s+)?conseill\w*\b"
        r"|\b(c'est|est-ce)\s+(plut[ôo]t\s+)?(un|une)?\b|\bplut[ôo]t\b|\b(ou\s+)?autre\s+chose\b|\bou\b",
        re.I,
    ),
}


def need_text(question: str, lang: str, catalog: OptionCatalog) -> str:
    """The question without what asks for a choice: the option names and the asking words
    ("which approach", "journey or campaign?"), so that what remains describes the need.
    Passages are compared with the need, not with the asking, which every "which
    approach?" question shares with every decision row."""
    lang = lang if lang in _CHOOSE else "en"
    text = fold(question)
    for mention in reversed(catalog.mentions(text, lang) if catalog else []):
        text = text[: mention.start] + " " + text[mention.end :]
    text = _CHOOSE[lang].sub(" ", text)
    text = _ASKING_PHRASES[lang].sub(" ", text)
    text = re.sub(r"\s*[?!]+", ".", text)
    text = re.sub(r"(\s*[.,;:-])+\s*(?=[.,;:-]|$)", "", text)
    return " ".join(text.split()).strip(" .,;:-")
