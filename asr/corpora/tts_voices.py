"""The synthetic voices installed on this machine, which of them each split may hear, and how to drive each engine.

A voice is one timbre a listener would call one speaker: an espeak-ng accent with one voice variant
(`espeak/en-gb-scotland+m3`), or one recorded person behind flite or festival (`flite/slt`, `festival/kal_diphone`).
Speaking rate and pitch vary per utterance within a voice (see `tts_synth.Utterance`).

The split is by timbre, so a test voice is never heard in training in any disguise:
- an espeak variant held out for test is used by no training voice, whatever the accent;
- a held-out person is held out from every engine that speaks with their voice (flite `kal` and `kal16` and
  festival `kal_diphone` are all the same man).
The held-out timbres are fixed here, not drawn from the seed, so results from different seeds stay comparable.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asr.corpora.tts_accents import ACCENTED_FESTIVAL, accented_voices, respell
from asr.errors import UserError

Engine = str  # "espeak" | "flite" | "festival"

# espeak-ng's English accents (gmw/ voices; the mb/ voices need mbrola, which Debian does not ship by default).
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
                  "en-us-nyc")
# Variants that are not a voice but an effect: whispering has no pitch at all, `fast` is espeak's test variant.
ESPEAK_SKIP_VARIANTS = {"whisper", "whisperf", "fast"}
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # awb_time is a talking clock, not a general voice
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")
FESTIVAL_ENGLISH = {"english", "us", "british"}

# Held-out timbres: espeak variants (with the accent each held-out voice speaks) and recorded persons.
# Natural voices are harder than espeak variants, so the test set holds one out. Dev holds out one of the
# accented persons where a corpus has them (digits: checkpoints are chosen on a natural voice never trained on);
# the English ones are too few to spare (kal, ked, slt, awb, rms with tools/install_system_deps.sh's packages).
HELD_OUT_ESPEAK = {
    "test": (("en-gb-scotland", "m3"), ("en-us", "f4"), ("en-gb-x-rp", "klatt3")),
    "dev": (("en-029", "m6"), ("en-us-nyc", "f2"), ("en-gb", "Annie")),
}
HELD_OUT_PERSONS = {"test": ("rms",), "dev": ("pc",)}  # pc: an Italian man (tts_accents), in digits corpora only

# Mean F0 in Hz each natural voice speaks at, measured; a pitch factor scales it. Voices not listed keep theirs
# (flite's rms and festival's HTS voices ignore a requested F0).
NATURAL_F0 = {"flite/kal": 95.0, "flite/kal16": 95.0, "flite/awb": 130.0, "flite/slt": 170.0,
              "festival/kal_diphone": 105.0, "festival/ked_diphone": 109.0}


@dataclass(frozen=True)
class Voice:
    id: str          # "espeak/en-us+f4", "flite/slt", "festival/cmu_us_slt_arctic_hts": the manifest's speaker
    engine: Engine
    name: str        # what the engine is told: "en-us+f4", "slt", "cmu_us_slt_arctic_hts"
    timbre: str      # what the split holds out: the espeak variant, or the recorded person ("slt")
    accent: str      # espeak accent, or the natural voice's ("us", "scottish", "italian", ...)
    language: str = "english"  # what the engine reads: another language's voice reads respelled words


def espeak_voice(accent: str, variant: str) -> Voice:
    return Voice(f"espeak/{accent}+{variant}", "espeak", f"{accent}+{variant}", f"espeak:{variant}", accent)


def person_of(engine: Engine, name: str) -> str:
    """The recorded person behind a flite/festival voice: kal16 -> kal, cmu_us_slt_arctic_hts -> slt."""
    name = name.removeprefix("cmu_us_")
    name = name.split("_")[0]
    return "kal" if name == "kal16" else name


_NATURAL_ACCENT = {"kal": "us", "slt": "us", "rms": "us", "awb": "scottish", "rab": "scottish", "ked": "us",
                   "kdl": "us", "bdl": "us", "clb": "us", "jmk": "canadian", "ksp": "indian"}


def natural_voice(engine: Engine, name: str) -> Voice:
    person = person_of(engine, name)
    return Voice(f"{engine}/{name}", engine, name, f"person:{person}", _NATURAL_ACCENT.get(person, "english"))


@functools.cache
def available_voices(vocabulary: frozenset[str] = frozenset()) -> tuple[Voice, ...]:
    """Every usable English voice of the installed engines, in a fixed order (so plans are reproducible), and the
    other languages' festival voices that can respell every word of `vocabulary` (tts_accents)."""
    voices = [espeak_voice(a, v) for a in _espeak_accents() for v in _espeak_variants()]
    voices += [natural_voice("flite", v) for v in _flite_voices()]
    voices += [natural_voice("festival", v) for v in _festival_voices()]
    voices += [accented_voice(a.voice, a.person, a.language)
               for a in accented_voices(_festival_voices(english=False), vocabulary)]
    if not voices:
        raise UserError("no speech synthesiser found; install espeak-ng, flite and festival "
                        "(tools/install_system_deps.sh does it on Debian/Ubuntu)")
    return tuple(voices)


def accented_voice(name: str, person: str, language: str) -> Voice:
    return Voice(f"festival/{name}", "festival", name, f"person:{person}", language, language)


def split_voices(voices: tuple[Voice, ...]) -> dict[str, list[Voice]]:
    """train/dev/test voices: held-out timbres go to their split, and training gets none of them."""
    held = {split: {f"espeak:{v}" for _, v in pairs} | {f"person:{p}" for p in HELD_OUT_PERSONS[split]}
            for split, pairs in HELD_OUT_ESPEAK.items()}
    wanted = {split: {espeak_voice(a, v).id for a, v in pairs} for split, pairs in HELD_OUT_ESPEAK.items()}
    out: dict[str, list[Voice]] = {"train": [], "dev": [], "test": []}
    for voice in voices:
        for split in ("test", "dev"):
            if voice.timbre in held[split]:
                if voice.engine != "espeak" or voice.id in wanted[split]:
                    out[split].append(voice)
                break
        else:
            out["train"].append(voice)
    for split, chosen in out.items():
        if not chosen:
            raise UserError(f"no {split} voices among the installed synthesisers ({len(voices)} voices); "
                            "install espeak-ng, flite and festival (tools/install_system_deps.sh)")
    return out


def espeak_language_voices(language: str) -> dict[str, list[Voice]]:
    """train/dev/test voices of espeak-ng's `language` ("de", "es", ...): every variant speaking it, the variants
    HELD_OUT_ESPEAK names held out for dev and test as in English (so the held-out timbres are the same ones)."""
    if not any(line.split()[1:2] == [language] for line in _run(["espeak-ng", f"--voices={language}"]).splitlines()):
        raise UserError(f"espeak-ng has no {language!r} voice here; install espeak-ng "
                        "(tools/install_system_deps.sh does it on Debian/Ubuntu)")
    out: dict[str, list[Voice]] = {"train": [], "dev": [], "test": []}
    held = {v: split for split, pairs in HELD_OUT_ESPEAK.items() for _, v in pairs}
    for variant in _espeak_variants():
        voice = Voice(f"espeak/{language}+{variant}", "espeak", f"{language}+{variant}", f"espeak:{variant}",
                      language, language)
        out[held.get(variant, "train")].append(voice)
    return out


ESPEAK_WPM = 175          # espeak-ng's default speaking rate; a rate factor scales it
ESPEAK_AMPLITUDE = 60     # of espeak's 0-200; its default (100) clips some variants


def espeak_command(voice: Voice, text: str, rate: float, pitch: float, path: Path) -> list[str]:
    """espeak-ng writing `text` to the WAV `path`; rate and pitch are factors of the voice's own."""
    espeak_pitch = round(min(99, max(0, 50 * pitch)))  # espeak's pitch is 0-99, 50 by default
    return ["espeak-ng", "-v", voice.name, "-s", str(round(ESPEAK_WPM * rate)), "-p", str(espeak_pitch),
            "-a", str(ESPEAK_AMPLITUDE), "-w", str(path), text]


def flite_command(voice: Voice, text: str, rate: float, pitch: float, path: Path) -> list[str]:
    cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / rate:.3f}"]
    if voice.id in NATURAL_F0:
        cmd += ["--setf", f"int_f0_target_mean={NATURAL_F0[voice.id] * pitch:.1f}"]
    return cmd + ["-t", text, "-o", str(path)]


def festival_script(voice: Voice, items: list[tuple[str, float, float, Path]]) -> str:
    """A Scheme script that selects `voice` once, then for each (text, rate, pitch, path) sets rate and pitch
    and saves the utterance as a WAV file: one festival start-up (~0.3 s) serves many utterances."""
    hts = voice.name.endswith("_hts")
    lines = [f"(voice_{voice.name})"] + (["(set! asr_base_hts_params hts_engine_params)"] if hts else [])
    for text, rate, pitch, path in items:
        if hts:  # the HTS engine ignores Duration_Stretch; its own speed option does the same
            lines.append(f"(set! hts_engine_params (append asr_base_hts_params '((\"-r\" {rate:.3f}))))")
        else:
            lines.append(f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})")
        if voice.id in NATURAL_F0:
            lines.append(f"(set! int_lr_params '((target_f0_mean {NATURAL_F0[voice.id] * pitch:.1f}) "
                         "(target_f0_std 14) (model_f0_mean 170) (model_f0_std 34)))")
        text = respell(voice.language, text).replace("\\", " ").replace('"', " ")
        lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{path}" \'riff)')
    return "\n".join(lines) + "\n"


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return ""
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def _espeak_accents() -> list[str]:
    listed = set()
    for line in _run(["espeak-ng", "--voices=en"]).splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 5 and not fields[4].startswith("mb/"):
            listed.add(fields[1])
    return [a for a in ESPEAK_ACCENTS if a in listed]


_VARIANT_LINE = re.compile(r"!v/(\S+)\s*(\(.*\))?$")


def _espeak_variants() -> list[str]:
    names = []
    for line in _run(["espeak-ng", "--voices=variant"]).splitlines()[1:]:
        m = _VARIANT_LINE.search(line.strip())
        if m and m.group(1) not in ESPEAK_SKIP_VARIANTS:  # a name with a space ("Mr serious") fails the regex
            names.append(m.group(1))
    return sorted(set(names))


def _flite_voices() -> list[str]:
    out = _run(["flite", "-lv"])
    listed = set(out.split(":", 1)[1].split()) if ":" in out else set()
    return [v for v in FLITE_VOICES if v in listed]


def _festival_voices(english: bool = True) -> list[str]:
    """The installed festival voices: the English ones, or those of the other languages that tts_accents knows."""
    if shutil.which("festival") is None or not FESTIVAL_VOICE_DIR.is_dir():
        return []
    # Each voice package is one folder /usr/share/festival/voices/<language>/<voice>/.
    return sorted(d.name for d in FESTIVAL_VOICE_DIR.glob("*/*") if (d / "festvox").is_dir()
                  and (d.parent.name in FESTIVAL_ENGLISH if english else d.name in ACCENTED_FESTIVAL))
