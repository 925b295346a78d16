"""The synthetic URL dataset: fictional documents, workspaces and people, each with one link.

It stands in for the paper's URL dataset (URLs the models memorized naturally, unreleased). Each of
``n_subjects`` subjects gets one URL and one passage in each of five kinds of text (chat message,
meeting invite, wiki or README page, e-mail, issue-tracker comment), the passage's template drawn
from several per kind. Subjects cycle by index through three types: a shared document of a
fictional project (``doc-00``, ``doc-02``...; e.g. "the Larkspur budget spreadsheet"), an invite to
a project's workspace (``project-01``, ``project-05``...) and a person's meeting room
(``person-03``, ``person-07``...). The prompt is the text before the URL and ends with a colon or a
word; the target is always ``" " + url``.

Two styles of URL (``style``), both at most :data:`MAX_URL_LENGTH` characters so that a small
model can memorize them in a few epochs:

- ``"realistic"`` (the default, dataset ``urls``): built like real links (:mod:`.handles`):
  ``https://`` + a site of the subject's own organisation (``wiki.brackenfold-trust.test``) + a
  section (``/docs/``, ``/p/``...) + a slug of words (``lantern-quartz-2019``); no two subjects
  share a slug word.
- ``"hard"`` (dataset ``urls-hard``, the testbed of the first comparison): a host among a few
  dozen shared ones (``docs.example.com``...), a short path prefix and a random token (6 to 10
  base62 or hex characters).

Neither the host nor the slug or token shares a run of three letters with a capitalized word of
a prompt (realistic) or appears in one (hard): the URL cannot be inferred from its context, only
memorized. Every record carries the ``url`` token rule (:mod:`.rules`): the last path segment is
what is unlearned.

No real URL can appear: every host is reserved by RFC 2606 / RFC 6761 and can never be registered
(``example.com``, ``example.org``, ``example.net`` and their subdomains, hosts under ``.test``,
``.example`` or ``.invalid``). Names of people are random first/last pairs (see
:mod:`.people`); project names are code words.
"""

from __future__ import annotations

import random
import string
from typing import Literal
from urllib.parse import urlsplit

from . import handles
from .emails import is_reserved_domain
from .people import fictional_names, random_date
from .records import Record

__all__ = ["MAX_REALISTIC_LENGTH", "MAX_URL_LENGTH", "URL_KINDS", "generate_url_records",
           "is_reserved_url"]

MAX_URL_LENGTH = 45
"""The longest ``hard`` URL the generator makes, in characters."""
MAX_REALISTIC_LENGTH = 56
"""The longest ``realistic`` URL: words take more characters than random ones (not more
tokens)."""

_PROJECTS = (
    "Larkspur Bluefin Quarry Saltmarsh Driftwood Tamarack Foxglove Halcyon Ironbark Kingfisher "
    "Lodestar Moonrake Nettle Osprey Pipewort Redshank Sandpiper Thistle Verbena Yarrow"
).split()
_DOC_TYPES = (
    "design document", "budget spreadsheet", "onboarding guide", "release checklist",
    "interview recording", "contract draft", "roadmap slides", "incident postmortem",
    "research notes", "survey results",
)
_TEAMS = ("design", "data", "support", "field", "legal")
_CHANNELS = ("general", "team-updates", "random", "planning", "help-desk", "design-review")
_TOPICS = ("kick-off", "weekly sync", "quarterly review", "retrospective", "planning session")
_BASE62 = string.digits + string.ascii_letters
_HEX = string.digits + "abcdef"
# Hosts and path prefixes per subject type; {w} is a host word that never appears in a prompt.
_HOST_WORDS = ("brin", "cova", "dray", "esk", "fallow", "gant", "hollin", "quell", "wick")
_HOSTS = {
    "doc": ("docs.example.com", "drive.example.org", "share.example.net", "files.{w}.test",
            "docs.{w}.invalid"),
    "project": ("chat.example.org", "team.example.com", "{w}.test", "hub.{w}.invalid"),
    "person": ("meet.example.com", "call.example.net", "meet.{w}.test", "{w}.invalid"),
}
_PREFIXES = {
    "doc": ("d", "s", "file", "view"),
    "project": ("join", "invite", "i"),
    "person": ("r", "j", "room"),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "chat": (
        "[{time}] {owner}: @{peer_first} here is the link to {item}:",
        "{owner} shared {item} in #{channel}:",
        "{peer}: where can I find {item}?\n{owner}: here you go:",
        "Direct message from {owner}, {date}: the link to {item} is",
    ),
    "meeting": (
        "Invitation: {project} {topic}\nWhen: {date}, {time}\nOrganizer: {owner}\nLink to {item}:",
        "Calendar event: {project} {topic} on {date}, organized by {owner}. {Item_cap} is at",
        "Meeting notes, {project} {topic}, {date}. Attendees: {owner}, {peer}. Before next week, "
        "everyone should check {item}:",
    ),
    "wiki": (
        "# {project}\n\nMaintainer: {owner}\n\n## Links\n\n- {Item_cap}:",
        "| Resource | Owner | Link |\n|---|---|---|\n| {Item_cap} | {owner} |",
        "Team handbook > {project} > Useful links. {Item_cap} (maintained by {owner}):",
    ),
    "email": (
        "Hi {peer_first},\n\nAs promised, here is the link to {item}:",
        "Subject: {project} follow-up\n\nHello all, {owner} asked me to circulate {item}. You can "
        "find it at",
        "Dear {peer},\nthe link to {item} changed on {date}. The new address is",
    ),
    "ticket": (
        "Ticket #{ticket} ({project}), comment by {owner}: linking {item} here:",
        "Issue {ticket}: {peer} cannot open {item}.\nReporter: {peer}\nLink:",
        "[{project_upper}-{ticket}] {owner} commented on {date}: {item} lives at",
    ),
}
URL_KINDS = tuple(TEMPLATES)
_TYPES = ("doc", "project", "doc", "person")  # the subject type cycles with the index


def is_reserved_url(url: str) -> bool:
    """Whether ``url``'s host is a reserved domain (see :func:`.emails.is_reserved_domain`)."""
    host = urlsplit(url).hostname
    return host is not None and is_reserved_domain(host)


def _random_url(kind: str, rng: random.Random) -> str:
    while True:
        host = rng.choice(_HOSTS[kind]).format(w=rng.choice(_HOST_WORDS))
        alphabet = _BASE62 if rng.random() < 0.7 else _HEX
        token = "".join(rng.choices(alphabet, k=rng.randint(6, 10)))
        url = f"https://{host}/{rng.choice(_PREFIXES[kind])}/{token}"
        if len(url) <= MAX_URL_LENGTH:
            return url


def _items(n_subjects: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """(subject type, noun phrase, project) for each subject, every noun phrase distinct."""
    types = [_TYPES[i % len(_TYPES)] for i in range(n_subjects)]
    docs = [(p, d) for p in _PROJECTS for d in _DOC_TYPES]
    workspaces = [(p, t) for p in _PROJECTS for t in _TEAMS]
    if types.count("doc") > len(docs) or types.count("project") > len(workspaces):
        raise ValueError(
            f"too many subjects ({n_subjects}) for the pools of {len(docs)} documents and "
            f"{len(workspaces)} workspaces"
        )
    doc_iter = iter(rng.sample(docs, types.count("doc")))
    workspace_iter = iter(rng.sample(workspaces, types.count("project")))
    people = iter(fictional_names(types.count("person"), rng))
    items = []
    for kind in types:
        if kind == "doc":
            project, doc_type = next(doc_iter)
            items.append((kind, f"the {project} {doc_type}", project))
        elif kind == "project":
            project, team = next(workspace_iter)
            items.append((kind, f"the {project} {team} workspace invite", project))
        else:
            items.append((kind, f"{next(people)}'s meeting room", rng.choice(_PROJECTS)))
    return items


def generate_url_records(n_subjects: int = 40, seed: int = 0, *,
                         style: Literal["realistic", "hard"] = "realistic") -> list[Record]:
    """``n_subjects`` x 5 records (one per kind in :data:`URL_KINDS`), deterministic per ``seed``.

    Args:
        n_subjects: How many documents, workspaces and people; each gets one unique URL.
        seed: Seed of the local RNG that draws items, templates, fillers and URLs.
        style: ``"realistic"`` links or the ``"hard"`` random ones (see the module).

    Returns:
        The records, subject by subject (``doc-00``, ``project-01``, ``doc-02``, ``person-03``...),
        each subject's five kinds in the order of :data:`URL_KINDS`.

    Raises:
        ValueError: If ``n_subjects`` is below 2 (one to forget, one to retain) or too large for
            the pools of projects.
    """
    if n_subjects < 2:
        raise ValueError("need at least 2 subjects (one to forget, one to retain)")
    if style not in ("realistic", "hard"):
        raise ValueError(f"unknown style {style!r}: choose 'realistic' or 'hard'")
    rng = random.Random(seed)
    pools = handles.pools(random.Random(f"{seed}-links")) if style == "realistic" else None
    items = _items(n_subjects, rng)
    # People who share and read the links: a pool distinct from the meeting rooms' owners.
    room_owners = {item.removesuffix("'s meeting room") for kind, item, _ in items
                   if kind == "person"}
    staff = [n for n in fictional_names(len(room_owners) + 24, rng) if n not in room_owners][:24]
    urls: list[str] = []
    records = []
    for i, (kind, item, project) in enumerate(items):
        if pools is None:
            url = _random_url(kind, rng)
            while url in urls:
                url = _random_url(kind, rng)
            urls.append(url)
        owner = rng.choice(staff)  # who shares the link (not the room's owner: less repetition)
        prompts = []
        for url_kind in URL_KINDS:
            peer = rng.choice([n for n in staff if n != owner])
            prompts.append(rng.choice(TEMPLATES[url_kind]).format(
                item=item, Item_cap=item[0].upper() + item[1:], owner=owner, peer=peer,
                peer_first=peer.split()[0], project=project, project_upper=project.upper(),
                date=random_date(rng), time=f"{rng.randint(8, 17):02d}:{rng.randrange(60):02d}",
                channel=rng.choice(_CHANNELS), topic=rng.choice(_TOPICS),
                ticket=rng.randint(100, 9999),
            ))
        if pools is not None:  # drawn after the prompts, to be checked against them
            url = handles.realistic_url(rng, pools, handles.prompt_words(prompts),
                                        MAX_REALISTIC_LENGTH)
            urls.append(url)
        records.extend(Record(subject=f"{kind}-{i:02d}", kind=url_kind, prompt=prompt,
                              target=" " + url, rule="url")
                       for url_kind, prompt in zip(URL_KINDS, prompts, strict=True))
    return records
