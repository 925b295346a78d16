"""Address parts built like real ones: name-like e-mail handles, organisation domains, URL slugs.

Real addresses that a model memorizes from text are made of words: ``firstname.lastname`` at an
organisation's own domain, a document's link ending in a slug of words. Their tokens are
multi-character pieces that mostly belong to that one address, unlike random characters at a
shared domain, whose tokens (single letters, digits, ``example``) every other address holds too.
These builders draw such parts from pools of invented words, each word used by at most one
subject (only the generic parts repeat, as in real addresses: a mailbox's role, a domain's suffix
and TLD, a link's section and service prefix), and check every part against the words of the
subject's prompts, so that an address can be memorized but never inferred from its context.
Every domain lies under a TLD that can never be registered (RFC 2606 / RFC 6761: ``.test``,
``.example``, ``.invalid``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

__all__ = ["REALISTIC_TLDS", "ROLES", "WordPool", "organisation_domain", "organisation_handle",
           "person_handle", "pools", "prompt_words", "realistic_url"]

REALISTIC_TLDS = ("test", "example", "invalid")

# Invented (or rare) given names and surnames, disjoint from revs.data.people's name pools.
_GIVEN = (
    "alder anselm auden bexley brisa caddoc calla corwin cressa dacey elowen elspet evander "
    "fenna florin galen gwenna hollis idony isolde jessamy jolyon kerensa lark linnet lorcan "
    "marisol merric morwen nerys odalys orrin ottilie perrin quilla rhosyn romilly saoirse "
    "sorrel tamsin tavish ulric verity wilmer wrenna xanthe yestin zinnia"
).split()
_FAMILY = (
    "ashdown bellweather blackthorn brightling calloway colquhoun dunstable everard fairclough "
    "fenwright gosforth hartigan hollowell inglewood jessop kettering larchfield lockhart "
    "marchbank merriman netherby oakshott ormerod pennywhistle pemberly quenby radcliffe "
    "rookwood saltonby stanway tenterden thornbury trelawney upcott vosper wakefield "
    "whitcombe winterbourne yarwood"
).split()
# Stems of organisations' domains and hosts: place-like words, none a word of any prompt.
_PLACES = (
    "abermoor aldwick ambleford barrowdene bellhaven brackenfold carrowmore cinderby "
    "coldharbour corriebrook dunhallow eastwold elderfield farrowdale fenmarch glenarrow "
    "greystow harrowmere heathcote hollinsby kelderwick kingsmoor lanthorn larkmoor "
    "loweswater marrowby mossgate nethercote northwold orchardleigh penhallow quarrendon "
    "ravensdale redmire rivelin saltcombe scarrowby silverdale stonyhurst tarrowby thrushcross "
    "underwold vellacott wexcombe whinmoor wyndcliffe yarrowvale"
).split()
ROLES = ("office", "desk", "enquiries", "bookings", "admin", "team", "hello", "frontdesk")
_ORG_SUFFIXES = ("", "", "", "-group", "-trust", "-works", "hq")
# Words of URL slugs: things, adjectives and nouns a document's title might use.
_SLUG_WORDS = (
    "alpine amber atlas aurora beacon birch bramble canopy cascade cedar chisel cipher clover "
    "comet coral cornice crescent dapple delta dewpoint ember falcon fathom fennel fernwood "
    "fjord gable garnet glacier granite harbor hazel hearth heron horizon indigo ivory jasper "
    "juniper kestrel lagoon lantern lattice ledger lilac lumen magnet maple marble meadow "
    "mosaic nebula nimbus oasis obsidian onyx orchard otter paddock pebble pinnacle plume "
    "prism quartz quill rampart raven ripple saffron sable sextant sierra slate sparrow "
    "spindle summit tandem thimble tidal timber topaz trellis tundra umber vellum verdant "
    "walnut willow zenith zephyr anchor badger basalt bluebell bobbin breakwater buttress "
    "caravel chalice cobble compass copper cormorant cricket damson driftwood dunlin eddy "
    "elmwood fieldfare flint foxtail gannet gossamer heather ironwood kelp kindle lichen "
    "linden lodestone mallow marlin meridian millstone moorhen nettle oriole osier parsley "
    "peregrine pewter pinecone puffin quarry reedbed rowan russet samphire shingle skylark "
    "sorrel starling teasel thistle tinder turnstone wagtail waymark whimbrel yarrow"
).split()
_SECTIONS = ("wiki", "docs", "d", "p", "notes", "share", "files", "board", "room", "join")
_HOST_PREFIXES = ("", "docs.", "wiki.", "files.", "meet.", "team.", "intranet.")


class WordPool:
    """Words drawn without replacement: no two subjects' addresses share an invented word."""

    def __init__(self, words: Sequence[str], rng: random.Random) -> None:
        self.words = list(words)
        rng.shuffle(self.words)

    def draw(self, avoid: set[str]) -> str:
        """The next word that shares no three-letter run with ``avoid``; it leaves the pool."""
        for i, word in enumerate(self.words):
            if not _trigrams(word) & avoid:
                return self.words.pop(i)
        raise ValueError("the word pool is exhausted: ask for fewer subjects")


def _trigrams(word: str) -> set[str]:
    word = word.lower()
    return {word[i : i + 3] for i in range(len(word) - 2)}


def prompt_words(prompts: Sequence[str]) -> set[str]:
    """Three-letter runs of the capitalized words of ``prompts``.

    Names, organisations, titles, projects: what a reader could build an address from.
    """
    grams: set[str] = set()
    for prompt in prompts:
        for word in re.findall(r"[A-Z][A-Za-z]{2,}", prompt):
            grams |= _trigrams(word)
    return grams


def person_handle(rng: random.Random, given: WordPool, family: WordPool, avoid: set[str]) -> str:
    """A person's local part in a common shape: ``elowen.marchbank``, ``emarchbank``...

    Joining two words can make a three-letter run neither has (``wilmer`` + ``s``): a handle
    that then shares one with the prompts takes the next shape, and new words after the last.
    """
    while True:
        first, last = given.draw(avoid), family.draw(avoid)
        shape = rng.randrange(_N_SHAPES)
        for n in range(_N_SHAPES):
            handle = _person_shape((shape + n) % _N_SHAPES, first, last, rng)
            if not _trigrams(handle) & avoid:
                return handle


_N_SHAPES = 6


def _person_shape(shape: int, first: str, last: str, rng: random.Random) -> str:
    if shape == 0:
        return f"{first}.{last}"
    if shape == 1:
        return f"{first[0]}{last}"
    if shape == 2:
        return f"{first}{last[0]}"
    if shape == 3:
        return f"{first}_{last}"
    if shape == 4:
        return f"{first}.{last}{rng.randint(1, 99)}"
    return f"{last}.{first[0]}"


def organisation_handle(rng: random.Random, words: WordPool, avoid: set[str]) -> str:
    """A shared mailbox: a role and a word of the organisation's own, ``bookings.kestrel``."""
    return f"{rng.choice(ROLES)}.{words.draw(avoid)}"


def organisation_domain(rng: random.Random, places: WordPool, avoid: set[str]) -> str:
    """An organisation's own domain under a reserved TLD: ``brackenfold-trust.test``."""
    return f"{places.draw(avoid)}{rng.choice(_ORG_SUFFIXES)}.{rng.choice(REALISTIC_TLDS)}"


def realistic_url(rng: random.Random, pools: dict[str, WordPool], avoid: set[str],
                  max_length: int) -> str:
    """A link built like a real one: ``https://wiki.brackenfold.test/docs/lantern-quartz``.

    An optional service prefix, the site's own domain, a section shared by many links of a site,
    and a slug of two words (sometimes a year or a version); the optional parts are left out
    while the URL is longer than ``max_length``.
    """
    prefix = rng.choice(_HOST_PREFIXES)
    host = f"{pools['places'].draw(avoid)}.{rng.choice(REALISTIC_TLDS)}"
    section = rng.choice(_SECTIONS)
    words = [pools["slugs"].draw(avoid) for _ in range(2)]
    extra = ""
    if rng.random() < 0.25:
        extra = f"-{rng.randint(2015, 2024)}" if rng.random() < 0.5 else f"-v{rng.randint(2, 9)}"
    for service, suffix in ((prefix, extra), ("", extra), ("", "")):
        url = f"https://{service}{host}/{section}/{'-'.join(words)}{suffix}"
        if len(url) <= max_length:
            return url
    return url[:max_length].rstrip("-")


def pools(rng: random.Random) -> dict[str, WordPool]:
    """Fresh pools for one dataset: ``given``, ``family``, ``places``, ``slugs``."""
    return {"given": WordPool(_GIVEN, rng), "family": WordPool(_FAMILY, rng),
            "places": WordPool(_PLACES, rng), "slugs": WordPool(_SLUG_WORDS, rng)}
