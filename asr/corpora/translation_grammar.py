"""A synchronous German-English grammar: every sentence is written in both languages with the same meaning, for a
speech-translation corpus (issue 31).

    >>> import random
    >>> p = pair(random.Random(0))      # doctest: +SKIP
    >>> p.de, p.en
    ('am montag kaufte meine schwester den roten tisch', 'on monday my sister bought the red table')

The German side has the word order that makes translation reorder: main clauses are verb-second (a fronted time
adverbial puts the subject after the finite verb), subordinate clauses are verb-final, participles and separable
particles go to the end of the main clause. Articles, possessives and adjective endings agree with the noun's
gender and case (nominative subjects, accusative objects). `Pair.alignment` links the content words (nouns,
verbs, adjectives, names) of the two sides, so `crossing` tells which pairs need reordering.
Output is normalised like `asr.corpora.sentences`: lower case, words only; umlauts and ß are kept (espeak-ng's
German voice reads them).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Optional

Tok = tuple[str, Optional[int]]  # a word and the id of the content word it translates (None: not aligned)


@dataclass(frozen=True)
class Pair:
    de: str
    en: str
    alignment: tuple[tuple[int, int], ...]  # (German word index, English word index) of aligned content words


@dataclass(frozen=True)
class Noun:
    de: str
    gender: str  # "m", "f" or "n"
    en: str
    animate: bool  # people and animals: may be the subject, or the object of "visit" and "call"


@dataclass(frozen=True)
class Verb:
    de: tuple[str, str, str]  # third person singular present, past; participle (with its particle)
    en: tuple[str, str, str, str]  # base, third person singular present, past, participle
    objects: str  # "thing", "animate" or "any": which nouns may be the object
    particle: str = ""  # separable prefix: "ruft ... an" in main clauses, "anruft" at the end of subordinate ones
    aux: str = "hat"  # every transitive verb here forms its perfect with haben


def _nouns(block: str, animate: bool) -> list[Noun]:
    return [Noun(de, g, en, animate) for de, g, en in (e.split(":") for e in block.split())]


NOUNS = _nouns("""
lehrer:m:teacher vater:m:father bruder:m:brother onkel:m:uncle arzt:m:doctor koch:m:cook freund:m:friend
hund:m:dog vogel:m:bird schwester:f:sister mutter:f:mother tante:f:aunt lehrerin:f:teacher ärztin:f:doctor
freundin:f:friend katze:f:cat kind:n:child mädchen:n:girl pferd:n:horse
""", True) + _nouns("""
tisch:m:table stuhl:m:chair schrank:m:cupboard schlüssel:m:key koffer:m:suitcase mantel:m:coat hut:m:hat
teller:m:plate apfel:m:apple ball:m:ball brief:m:letter kuchen:m:cake lampe:f:lamp tasche:f:bag uhr:f:clock
tasse:f:cup flasche:f:bottle jacke:f:jacket kiste:f:box zeitung:f:newspaper blume:f:flower gitarre:f:guitar
buch:n:book fahrrad:n:bicycle auto:n:car bild:n:picture fenster:n:window glas:n:glass messer:n:knife
radio:n:radio hemd:n:shirt kleid:n:dress geschenk:n:present
""", False)
NAMES = "anna peter maria thomas lena jonas paul sophie".split()  # the same word in both languages
ADJECTIVES = dict(e.split(":") for e in """
rot:red blau:blue grün:green gelb:yellow schwarz:black weiß:white alt:old neu:new groß:big klein:small
schön:beautiful schwer:heavy billig:cheap sauber:clean schmutzig:dirty hübsch:pretty jung:young müde:tired
freundlich:friendly
""".split())  # regular stems: the ending is appended (no "teuer" -> "teure")
ANIMATE_ADJECTIVES = "alt jung klein groß hübsch müde freundlich".split()
THING_ADJECTIVES = sorted(set(ADJECTIVES) - {"jung", "müde", "freundlich", "hübsch"})
POSSESSIVES = {"mein": "my", "dein": "your", "sein": "his", "ihr": "her", "unser": "our"}


def _verb(de: str, en: str, objects: str = "any", particle: str = "") -> Verb:
    return Verb(tuple(de.split()), tuple(en.split()), objects, particle)  # type: ignore[arg-type]


VERBS = [
    _verb("kauft kaufte gekauft", "buy buys bought bought", "thing"),
    _verb("verkauft verkaufte verkauft", "sell sells sold sold", "thing"),
    _verb("sieht sah gesehen", "see sees saw seen"),
    _verb("findet fand gefunden", "find finds found found"),
    _verb("trägt trug getragen", "carry carries carried carried", "thing"),
    _verb("holt holte geholt", "fetch fetches fetched fetched", "thing"),
    _verb("malt malte gemalt", "paint paints painted painted"),
    _verb("wäscht wusch gewaschen", "wash washes washed washed"),
    _verb("öffnet öffnete geöffnet", "open opens opened opened", "thing"),
    _verb("verliert verlor verloren", "lose loses lost lost", "thing"),
    _verb("repariert reparierte repariert", "repair repairs repaired repaired", "thing"),
    _verb("mag mochte gemocht", "like likes liked liked"),
    _verb("vergisst vergaß vergessen", "forget forgets forgot forgotten"),
    _verb("zeichnet zeichnete gezeichnet", "draw draws drew drawn"),
    _verb("besucht besuchte besucht", "visit visits visited visited", "animate"),
    _verb("ruft rief angerufen", "call calls called called", "animate", particle="an"),
    _verb("räumt räumte aufgeräumt", "tidy tidies tidied tidied", "thing", particle="auf"),
    _verb("bringt brachte mitgebracht", "bring brings brought brought", "thing", particle="mit"),
]
SAY_VERBS = [  # take a "dass" clause as their object
    _verb("sagt sagte gesagt", "say says said said"),
    _verb("glaubt glaubte geglaubt", "think thinks thought thought"),
    _verb("hofft hoffte gehofft", "hope hopes hoped hoped"),
]
WEEKDAYS = dict(zip("montag dienstag mittwoch donnerstag freitag samstag sonntag".split(),
                    "monday tuesday wednesday thursday friday saturday sunday".split()))
# German, English (`*` marks the aligned noun, `%` a weekday), the tenses each may go with. German says the
# future with the present tense and a time adverbial; English says "will".
TIMES = [
    ("gestern", "yesterday", "past perfect"),
    ("heute", "today", "present past perfect future"),
    ("morgen", "tomorrow", "future"),
    ("am %", "on %", "past perfect future"),
    ("letzte *woche", "last *week", "past perfect"),
    ("nächste *woche", "next *week", "future"),
    ("vor einer *woche", "a *week ago", "past perfect"),
    ("jeden *tag", "every *day", "present"),
    ("am *abend", "in the *evening", "present past perfect future"),
    ("oft", "often", "present"),
]
CONJUNCTIONS = [  # subordinating: the clause after them is verb-final
    ("weil", "because", "present past perfect"),
    ("obwohl", "although", "present past perfect"),
    ("als", "when", "past"),
    ("während", "while", "present past"),
    ("wenn", "if", "present"),
]
_DEFINITE = {("m", "nom"): "der", ("m", "acc"): "den", ("f", "nom"): "die", ("f", "acc"): "die",
             ("n", "nom"): "das", ("n", "acc"): "das"}
_EIN_ENDING = {("m", "nom"): "", ("m", "acc"): "en", ("f", "nom"): "e", ("f", "acc"): "e",
               ("n", "nom"): "", ("n", "acc"): ""}
# Adjective endings in the nominative and accusative singular: weak after der/die/das, mixed after ein/mein.
_WEAK = {("m", "nom"): "e", ("m", "acc"): "en", ("f", "nom"): "e", ("f", "acc"): "e",
         ("n", "nom"): "e", ("n", "acc"): "e"}
_MIXED = {("m", "nom"): "er", ("m", "acc"): "en", ("f", "nom"): "e", ("f", "acc"): "e",
          ("n", "nom"): "es", ("n", "acc"): "es"}


def inflect(adjective: str, ending: str) -> str:
    """An adjective with its ending: "rot" + "en" -> "roten"; a stem's final e merges ("müde" + "en" -> "müden")."""
    return adjective + (ending[1:] if adjective.endswith("e") and ending.startswith("e") else ending)


def _noun_phrase(rng: random.Random, noun: Noun, case: str, ids: Iterator[int]) -> tuple[list[Tok], list[Tok]]:
    """'den roten tisch' / 'the red table': a determiner, maybe an adjective, the noun, agreeing in case and gender."""
    key = (noun.gender, case)
    kind = rng.choice(["def", "def", "indef", "poss"])
    de: list[Tok] = []
    en: list[Tok] = []
    if kind == "def":
        de.append((_DEFINITE[key], None))
        en.append(("the", None))
    else:
        stem, word = ("ein", "a") if kind == "indef" else rng.choice(list(POSSESSIVES.items()))
        de.append((stem + _EIN_ENDING[key], None))
        en.append((word, None))
    if rng.random() < 0.5:
        adj = rng.choice(ANIMATE_ADJECTIVES if noun.animate else THING_ADJECTIVES)
        i = next(ids)
        de.append((inflect(adj, (_WEAK if kind == "def" else _MIXED)[key]), i))
        en.append((ADJECTIVES[adj], i))
    i = next(ids)
    de.append((noun.de, i))
    en.append((noun.en, i))
    if en[0][0] == "a" and en[1][0][0] in "aeiou":
        en[0] = ("an", None)
    return de, en


def _argument(rng: random.Random, objects: str, case: str, ids: Iterator[int]) -> tuple[list[Tok], list[Tok]]:
    """A name or a noun phrase: a subject (objects="animate") or the object a verb takes."""
    nouns = [n for n in NOUNS if objects == "any" or n.animate == (objects == "animate")]
    if objects != "thing" and rng.random() < 0.25:
        i = next(ids)
        name = rng.choice(NAMES)
        return [(name, i)], [(name, i)]
    return _noun_phrase(rng, rng.choice(nouns), case, ids)


def _verb_forms(verb: Verb, tense: str, perfect_en: bool, i: int) -> tuple[list[Tok], list[Tok], list[Tok]]:
    """German finite verb, German clause-final words (particle or participle), English verb group."""
    present, past, participle = verb.de
    particle = [(verb.particle, i)] if verb.particle else []
    if tense == "perfect":
        en = [("has", None), (verb.en[3], i)] if perfect_en else [(verb.en[2], i)]
        return [(verb.aux, None)], [(participle, i)], en
    if tense == "past":
        return [(past, i)], particle, [(verb.en[2], i)]
    en = [("will", None), (verb.en[0], i)] if tense == "future" else [(verb.en[1], i)]
    return [(present, i)], particle, en


def _subordinate(rng: random.Random, tense: str, ids: Iterator[int]) -> tuple[list[Tok], list[Tok]]:
    """'der lehrer den alten hund sah' / 'the teacher saw the old dog': verb-final in German."""
    verb = rng.choice(VERBS)
    subj_de, subj_en = _argument(rng, "animate", "nom", ids)
    obj_de, obj_en = _argument(rng, verb.objects, "acc", ids)
    finite, final, verb_en = _verb_forms(verb, tense, rng.random() < 0.5, next(ids))
    if final and tense != "perfect":  # a separable particle joins its verb again: "anrief"
        finite, final = [(final[0][0] + finite[0][0], finite[0][1])], []
    return subj_de + obj_de + final + finite, subj_en + verb_en + obj_en


def pair(rng: random.Random) -> Pair:
    """One sentence in German and English: a verb-second main clause, sometimes with a verb-final clause after it."""
    ids = itertools.count()
    tense = rng.choice(["present", "past", "past", "perfect", "perfect", "future"])
    times = [t for t in TIMES if tense in t[2].split()]
    time_de: list[Tok] = []
    time_en: list[Tok] = []
    if tense == "future" or rng.random() < 0.75:
        de_text, en_text, _ = rng.choice(times)
        day = rng.choice(sorted(WEEKDAYS))
        i = next(ids)
        time_de = [(w.replace("%", day).strip("*"), i if w[0] in "*%" else None) for w in de_text.split()]
        time_en = [(w.replace("%", WEEKDAYS[day]).strip("*"), i if w[0] in "*%" else None) for w in en_text.split()]
    says = rng.random() < 0.2
    verb = rng.choice(SAY_VERBS if says else VERBS)
    subj_de, subj_en = _argument(rng, "animate", "nom", ids)
    if says:
        sub_tense = rng.choice(["present", "past", "perfect"])
        sub_de, sub_en = _subordinate(rng, sub_tense, ids)
        obj_de, obj_en, tail_de, tail_en = [], [], [("dass", None)] + sub_de, [("that", None)] + sub_en
    else:
        obj_de, obj_en = _argument(rng, verb.objects, "acc", ids)
        tail_de, tail_en = [], []
        if rng.random() < 0.35:
            near = {"present"} if tense in ("present", "future") else {"past", "perfect"}  # no "will paint when found"
            conj_de, conj_en, conj_tenses = rng.choice([c for c in CONJUNCTIONS if near & set(c[2].split())])
            sub_de, sub_en = _subordinate(rng, rng.choice(sorted(near & set(conj_tenses.split()))), ids)
            tail_de, tail_en = [(conj_de, None)] + sub_de, [(conj_en, None)] + sub_en
    finite, final, verb_en = _verb_forms(verb, tense, not time_de and rng.random() < 0.5, next(ids))
    if time_de and rng.random() < 0.6:  # the adverbial takes the first place, the subject moves after the verb
        de = time_de + finite + subj_de + obj_de + final
        en = time_en + subj_en + verb_en + obj_en
    else:
        de = subj_de + finite + time_de + obj_de + final
        en = subj_en + verb_en + obj_en + time_en
    return _aligned(de + tail_de, en + tail_en)


def _aligned(de: list[Tok], en: list[Tok]) -> Pair:
    links = tuple((i, j) for i, (_, a) in enumerate(de) if a is not None
                  for j, (_, b) in enumerate(en) if b == a)
    return Pair(" ".join(w for w, _ in de), " ".join(w for w, _ in en), links)


def pairs(n: int, seed: int) -> list[Pair]:
    """`n` pairs, the same ones for the same seed."""
    rng = random.Random(seed)
    return [pair(rng) for _ in range(n)]


def crossing(p: Pair) -> bool:
    """Whether two alignment links cross: translating needs a reordering, not just word-for-word substitution."""
    return any((i - k) * (j - l) < 0 for (i, j), (k, l) in itertools.combinations(p.alignment, 2))


def finite_forms() -> set[str]:
    """The German finite verbs the grammar can say (present, past, "hat", particle + verb)."""
    forms = {"hat"}
    for verb in VERBS + SAY_VERBS:
        forms.update(verb.de[:2])
        forms.update(verb.particle + f for f in verb.de[:2])
    return forms


def vocabulary(lang: str) -> set[str]:
    """Every word the grammar can produce in `lang` ("de" or "en")."""
    times = " ".join(t[lang == "en"] for t in TIMES + CONJUNCTIONS).replace("*", "").replace("%", "")
    words = set(times.split()) | set(NAMES)
    if lang == "de":
        words |= set(_DEFINITE.values()) | {"ein" + e for e in _EIN_ENDING.values()} | {"dass"} | set(WEEKDAYS)
        words |= {p + e for p in POSSESSIVES for e in _EIN_ENDING.values()}
        words |= {inflect(a, e) for a in ADJECTIVES for e in {*_WEAK.values(), *_MIXED.values()}}
        words |= {n.de for n in NOUNS} | finite_forms() | {v.de[2] for v in VERBS + SAY_VERBS}
        return words | {v.particle for v in VERBS if v.particle}
    if lang == "en":
        words |= {"the", "a", "an", "that", "has", "will"} | set(POSSESSIVES.values()) | set(WEEKDAYS.values())
        words |= set(ADJECTIVES.values()) | {n.en for n in NOUNS}
        return words | {f for v in VERBS + SAY_VERBS for f in v.en}
    raise ValueError(f"no such language {lang!r}: 'de' or 'en'")
