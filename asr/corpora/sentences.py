"""A small English grammar that writes plausible sentences from word lists, for the tts-sentences corpus.

    >>> import random
    >>> sentence(random.Random(3))            # doctest: +SKIP
    'my uncle painted the narrow fence near the harbour on friday'

`RULES` is a context-free grammar: each rule lists alternatives; `{name}` expands another rule, other words are
literal. Word classes are plain lists, so `vocabulary()` knows every word the grammar can say (over 1,000).
Output is already normalised (lower case, words only), as `asr.text.normalise_text` would leave it.
"""

from __future__ import annotations

import random
import re

NAMES = """
adam alice amelia andrew anna arthur ben benjamin charlie chloe daniel david dylan edward eleanor ella emily emma
ethan finn freya george grace hannah harry henry isaac isabel jack jacob james jane jessica john joseph julia kate
laura leo lily lucas lucy maria mark martha mary matthew max mia michael molly nathan noah oliver olivia oscar paul
peter rachel robert rose ruby samuel sarah simon sophie thomas victoria william zoe
"""
RELATIONS = """
mother father sister brother aunt uncle cousin grandmother grandfather neighbour friend teacher doctor boss
landlord colleague coach dentist nephew niece
"""
# Word lists: one entry per word, `_` joins a several-word entry. Countable things, singular; plurals are derived.
NOUNS = """
apple bag ball banana basket bed bell belt bicycle blanket boat book boot bottle bowl box bracelet bread brick
bridge brush bucket button cabinet cake calendar camera candle cap car card carpet carrot chair cheese clock coat
computer cookie cup curtain cushion desk diary dictionary dish door drawer dress drum envelope fence flag flower
folder fork frame glass glove guitar hammer hat helmet jacket jar kettle key kite knife ladder lamp laptop letter
lock map mirror mug nail napkin necklace needle newspaper notebook onion orange oven package pan parcel pen pencil
piano picture pillow pipe plate pot potato printer purse radio receipt ribbon ring rope ruler sandwich saucepan
scarf screen shelf shirt shoe sign sink skirt sock sofa spoon stamp statue sticker stone stool suitcase
sweater table tablet teapot telephone television ticket tie tomato towel toy tray truck trumpet umbrella vase
violin wagon wallet watch whistle window basketball blender bucket candlestick carriage chimney compass cupboard
doll engine fan feather fountain gate globe hammock handle horn lantern lemon lid locket magnet medal microphone
motorcycle needle paintbrush parachute pebble pepper pillowcase puzzle rocket saddle sculpture shovel skateboard
sled spade sponge staircase suitcase sunflower surfboard telescope tent thermometer toaster toothbrush tractor
trophy trunk tulip typewriter vacuum van wheel whisk wheelbarrow chessboard keyboard lightbulb mailbox padlock
paperclip peach pear pineapple pumpkin raincoat sandal seashell snowman spider squirrel rabbit horse dog cat bird
mouse duck goat sheep cow pig chicken fox frog owl parrot turtle hamster pony donkey
"""
PLACES = """
kitchen garden garage station library museum market bakery hospital school office park harbour airport hotel
restaurant cinema theatre church bank pharmacy supermarket playground stadium castle farm village forest beach
river lake mountain cellar attic hallway bedroom bathroom basement balcony corridor factory warehouse studio
gallery bookshop post_office classroom laboratory canteen courtyard greenhouse orchard vineyard barn stable
shed workshop pier lighthouse square bus_stop swimming_pool car_park town_hall
"""
CITIES = """
london paris berlin madrid rome vienna prague dublin lisbon athens oslo stockholm helsinki copenhagen amsterdam
brussels warsaw budapest zurich geneva edinburgh glasgow manchester liverpool bristol oxford cambridge york boston
chicago denver seattle toronto montreal sydney melbourne tokyo cairo nairobi mumbai
"""
ADJECTIVES = """
big small old new red blue green yellow black white brown grey pink purple orange golden silver wooden plastic
metal heavy light long short tall narrow wide round square soft hard warm cold hot cool wet dry clean dirty empty
full cheap expensive broken shiny dusty rusty bright dark quiet noisy strange famous tiny huge lovely ugly fancy
plain simple modern ancient fragile sturdy smooth rough sharp blunt thick thin tidy messy fresh stale sweet sour
bitter spicy salty delicious tasty striped spotted curly fluffy sticky slippery crooked straight gentle friendly
lazy busy clever brave calm proud lucky happy sad tired hungry thirsty sleepy angry polite rude careful careless
patient curious honest cheerful serious funny elegant comfortable useful useless beautiful pretty handsome
enormous little spare favourite antique colourful glittering crumpled folded faded velvet woollen leather
cotton paper glass marble
"""
# (base, past) pairs of transitive verbs that take one of the NOUNS.
VERBS = """
bring:brought buy:bought carry:carried clean:cleaned close:closed collect:collected cover:covered drop:dropped
fetch:fetched find:found fix:fixed fold:folded hide:hid hold:held keep:kept lend:lent lift:lifted lose:lost
move:moved open:opened pack:packed paint:painted pick:picked pull:pulled push:pushed repair:repaired sell:sold
send:sent share:shared shake:shook sort:sorted steal:stole take:took throw:threw touch:touched wash:washed
wrap:wrapped borrow:borrowed check:checked choose:chose count:counted draw:drew drag:dragged dry:dried
examine:examined fill:filled grab:grabbed guard:guarded hang:hung heat:heated inspect:inspected kick:kicked
label:labelled load:loaded mark:marked measure:measured mend:mended notice:noticed order:ordered photograph:photographed
place:placed polish:polished post:posted return:returned rinse:rinsed roll:rolled sketch:sketched spill:spilled
store:stored swap:swapped test:tested tie:tied turn:turned unpack:unpacked weigh:weighed deliver:delivered
describe:described decorate:decorated forget:forgot give:gave leave:left like:liked love:loved need:needed
notice:noticed prefer:preferred remember:remembered see:saw want:wanted watch:watched hug:hugged feed:fed
ride:rode build:built break:broke catch:caught cut:cut hit:hit put:put set:set read:read win:won
"""
ADVERBS = """
quickly slowly carefully quietly loudly gently suddenly finally happily sadly proudly nervously secretly calmly
politely eagerly patiently bravely lazily neatly roughly softly easily quickly firmly briefly barely nearly
almost already also really probably certainly clearly honestly luckily sadly simply usually often sometimes
never always rarely
"""
NUMBERS = """
two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen
nineteen twenty thirty forty fifty sixty seventy eighty ninety
"""
HOURS = "one two three four five six seven eight nine ten eleven twelve"
MINUTES = "five ten fifteen twenty twenty_five thirty forty forty_five fifty"
WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday"
MONTHS = "january february march april may june july august september october november december"
MEALS = "breakfast lunch dinner supper"
PARTS_OF_DAY = "morning afternoon evening night weekend"
PREPOSITIONS = "in at near behind beside outside inside opposite above below under"
PRONOUNS = "she he they we i you"
CURRENCIES = "pounds dollars euros"
TRAVEL = "travelled drove flew walked cycled moved went returned"


def _words(block: str) -> list[str]:
    """A word list; `_` joins the words of one entry ("post_office" -> "post office")."""
    return sorted({w.replace("_", " ") for w in block.split()})


_IRREGULAR = {"knife": "knives", "shelf": "shelves", "mouse": "mice", "sheep": "sheep",
              "potato": "potatoes", "tomato": "tomatoes", "snowman": "snowmen", "goose": "geese", "leaf": "leaves"}


def plural(noun: str) -> str:
    if noun in _IRREGULAR:
        return _IRREGULAR[noun]
    if re.search(r"(s|x|z|ch|sh)$", noun):
        return noun + "es"
    if re.search(r"[^aeiou]y$", noun):
        return noun[:-1] + "ies"
    return noun + "s"


_NOUNS = _words(NOUNS)
_VERBS = sorted({tuple(pair.split(":")) for pair in _words(VERBS)})

RULES: dict[str, list[str]] = {
    "s": [
        "{person} {past} {det} {np} {where}",
        "{person} {past} {det} {np} {when}",
        "{person} will {base} {det} {np} {when}",
        "{person} {adverb} {past} {det} {np}",
        "did {person} {base} {det} {np} {when}",
        "please {base} {det} {np} {when}",
        "please do not {base} {det} {np} {where}",
        "{det} {np} is {where}",
        "{det} {np} was {adj} {when}",
        "there are {number} {adj} {nouns} {where}",
        "there were {number} {nouns} {where} {when}",
        "{person} {past} {number} {nouns} {when}",
        "{person} and {person} {travel} to {city} {when}",
        "we will meet {where} at {clock} on {weekday}",
        "{person} {past} {det} {noun} because it was {adj}",
        "in {month} {person} {past} {det} {np} in {city}",
        "{det} {np} costs {number} {currency}",
        "{person} could not {base} {det} {np} {when}",
        "{person} said the {noun} was {adverb} {adj}",
        "the train to {city} leaves at {clock}",
    ],
    "person": ["{name}", "{name}", "my {relation}", "our {relation}", "{pronoun}", "the {relation}"],
    "det": ["the", "a", "my", "your", "his", "her", "our", "their", "this", "that"],
    "np": ["{noun}", "{adj} {noun}", "{adj} {noun}"],
    "where": ["{prep} the {place}", "in {city}", "{prep} the {place} in {city}"],
    "when": ["yesterday", "today", "tomorrow", "on {weekday}", "last {weekday}", "next {weekday}",
             "this {part}", "every {part}", "in {month}", "at {clock}", "before {meal}", "after {meal}",
             "last week", "next year"],
    "clock": ["{hour} o'clock", "half past {hour}", "quarter to {hour}", "quarter past {hour}", "{hour} {minute}"],
    "name": _words(NAMES),
    "relation": _words(RELATIONS),
    "pronoun": _words(PRONOUNS),
    "noun": _NOUNS,
    "nouns": [plural(n) for n in _NOUNS],
    "adj": _words(ADJECTIVES),
    "base": [b for b, _ in _VERBS],
    "past": [p for _, p in _VERBS],
    "adverb": _words(ADVERBS),
    "number": _words(NUMBERS),
    "hour": _words(HOURS),
    "minute": _words(MINUTES),
    "weekday": _words(WEEKDAYS),
    "month": _words(MONTHS),
    "meal": _words(MEALS),
    "part": _words(PARTS_OF_DAY),
    "prep": _words(PREPOSITIONS),
    "place": _words(PLACES),
    "city": _words(CITIES),
    "currency": _words(CURRENCIES),
    "travel": _words(TRAVEL),
}

_SLOT = re.compile(r"\{(\w+)\}")


def sentence(rng: random.Random, rule: str = "s") -> str:
    """One random sentence: expand `rule`, pick uniformly among alternatives at every step."""
    text = _SLOT.sub(lambda m: sentence(rng, m.group(1)), rng.choice(RULES[rule]))
    if rule == "s":  # "a apple" -> "an apple"; only whole-word "a" before a vowel letter
        text = re.sub(r"\ba (?=[aeiou])", "an ", text)
    return text


def vocabulary() -> set[str]:
    """Every word the grammar can produce."""
    words = {"an"}
    for alternatives in RULES.values():
        for alt in alternatives:
            words.update(w for w in _SLOT.sub(" ", alt).split())
    return words
