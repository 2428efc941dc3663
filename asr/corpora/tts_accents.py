"""Recorded persons of other languages reading English words: accented natural timbres for the synthetic corpora.

Debian ships festival voices of ten people who speak Italian, Czech, Finnish, Russian or Catalan. Each reads
text with its own language's letter-to-sound rules, so an English word is written for it as a speaker of that
language would spell what they say: "three" is "tri" for the Italian voices, "сри" for the Russian one. What
comes out is the English digit with that person's voice and accent, the way many real speakers say it. The
manifest keeps the English words; only the engine reads the respelling.

A voice is offered only to a corpus whose whole vocabulary has a respelling in its language (`respellable`):
the digits have one, open-vocabulary sentences do not.

Respellings are ASCII for the Latin-script languages: their festival front ends read UTF-8 accents as
several letters (a Czech "tú" in 11 digit words made 8 s of spelling), and the short vowels are close enough.
"""

from __future__ import annotations

from dataclasses import dataclass

# festival voice name -> (the recorded person, the language its front end reads). Not here: Hindi's NSK voice
# (Marathi's and Telugu's are the same man): its one-word renderings last 2 s with extra syllables, and a nukta
# (फ़) crashes festival-hi; the demo model heard 8 of its 33 digits right, against 20-31 for each voice here
# (tools/respelling_check.py).
ACCENTED_FESTIVAL = {
    "lp_diphone": ("lp", "italian"), "pc_diphone": ("pc", "italian"),
    "czech_dita": ("dita", "czech"), "czech_krb": ("krb", "czech"), "czech_machac": ("machac", "czech"),
    "czech_ph": ("ph", "czech"),
    "suo_fi_lj_diphone": ("lj", "finnish"), "hy_fi_mv_diphone": ("mv", "finnish"),
    "msu_ru_nsh_clunits": ("nsh", "russian"),
    "upc_ca_ona_hts": ("ona", "catalan"),
}

# English word -> how a speaker of the language writes what they say for it.
RESPELLINGS: dict[str, dict[str, str]] = {
    "italian": {"zero": "ziro", "oh": "ou", "one": "uan", "two": "tu", "three": "tri", "four": "for",
                "five": "faiv", "six": "sics", "seven": "seven", "eight": "eit", "nine": "nain"},
    "czech": {"zero": "zirou", "oh": "ou", "one": "van", "two": "tu", "three": "tri", "four": "for",
              "five": "fajf", "six": "siks", "seven": "sevn", "eight": "ejt", "nine": "najn"},
    "finnish": {"zero": "siirou", "oh": "ou", "one": "van", "two": "tuu", "three": "trii", "four": "foor",
                "five": "faiv", "six": "siks", "seven": "seven", "eight": "eit", "nine": "nain"},
    "russian": {"zero": "зироу", "oh": "оу", "one": "уан", "two": "ту", "three": "сри", "four": "фор",
                "five": "файв", "six": "сикс", "seven": "сэвэн", "eight": "эйт", "nine": "найн"},
    "catalan": {"zero": "zirou", "oh": "ou", "one": "uan", "two": "tu", "three": "tri", "four": "for",
                "five": "faiv", "six": "sics", "seven": "seven", "eight": "eit", "nine": "nain"},
}


@dataclass(frozen=True)
class Accented:
    voice: str      # festival's name: "lp_diphone"
    person: str     # what the split holds out: "lp"
    language: str   # whose respellings it reads: "italian"


def accented_voices(installed: list[str], vocabulary: frozenset[str]) -> list[Accented]:
    """The accented festival voices among `installed` whose language respells every word of `vocabulary`."""
    out = []
    for name in installed:
        if name in ACCENTED_FESTIVAL:
            person, language = ACCENTED_FESTIVAL[name]
            if respellable(language, vocabulary):
                out.append(Accented(name, person, language))
    return out


def respellable(language: str, vocabulary: frozenset[str]) -> bool:
    return bool(vocabulary) and vocabulary <= RESPELLINGS.get(language, {}).keys()


def respell(language: str, text: str) -> str:
    """The prompt a voice of `language` reads for the English `text` ("english": the text itself)."""
    if language == "english":
        return text
    words = RESPELLINGS[language]
    return " ".join(words[w] for w in text.split())
