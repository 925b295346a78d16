"""The synthetic e-mail dataset: fictional people and organisations, each with one address.

It stands in for the paper's e-mail dataset (addresses the models memorized naturally, unreleased).
Each of ``n_subjects`` subjects gets one e-mail address and one passage in each of five kinds
(signature block, "contact me at" line, message header, staff-directory entry, mailing-list
footer), the passage's template drawn from several per kind. Every fourth subject (index 3, 7,
11...) is an organisation's shared mailbox; the others are people, with an employer. The prompt is
the text before the address and ends with a word or a colon; the target is always ``" " + address``
(one space, then the address: no ``<`` or ``mailto:`` forms, so the separator rule has no cases).

Two styles of address (``style``):

- ``"realistic"`` (the default, dataset ``emails``): built like real ones
  (:mod:`.handles`): a person's local part is a name-like handle in a common shape
  (``elowen.marchbank``, ``emarchbank``, ``elowen_marchbank``...), an organisation's a role and a
  word (``bookings.kestrel``), each at the subject's own organisation's domain
  (``brackenfold-trust.test``); no two subjects share an invented word (only the generic
  parts repeat, as in real addresses: role words, domain suffixes, TLDs).
- ``"hard"`` (dataset ``emails-hard``, the testbed of the first comparison): a random handle (a
  word with digits, two letters and digits, or random letters and digits) at one of a dozen
  shared domains (``example.com``, ``mail.example.com``...): its tokens are single letters,
  digits and domain pieces that every other address holds too.

Either way no part of the address shares a run of three letters with a capitalized word of the
subject's five prompts (the person's name, the organisation, the title...), and the domain never
appears in a prompt: the address cannot be inferred from its context, only memorized. Every
record carries the ``email`` token rule (:mod:`.rules`): the local part is what is unlearned.

No real address can appear: every domain is reserved by RFC 2606 / RFC 6761 and can never be
registered (``example.com``, ``example.org``, ``example.net`` and their subdomains, and hosts
under ``.test``, ``.example`` or ``.invalid``). People's names are random first/last pairs (see
:mod:`.people`) and organisation names random pairs of an invented stem and a sector, so any
match with a real person or organisation is a coincidence.
"""

from __future__ import annotations

import random
import re
import string
from typing import Literal

from . import handles
from .people import fictional_names, random_date
from .records import Record

__all__ = ["EMAIL_KINDS", "RESERVED_DOMAINS", "generate_email_records", "is_reserved_domain"]

RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "test", "example", "invalid")
"""Domains no one can register (RFC 2606, RFC 6761): each address's domain is one of these or
lies under one of them."""

_ORG_STEMS = (
    "Ashgrove Bramblewood Copperleaf Dunmere Elderbrook Fernhollow Greyfen Harrowgate Ivywick "
    "Juniper Hill Kestrel Bay Lowmoor Millbrook Northwater Oakhaven Pellbridge Quarrystone "
    "Rushcombe Saltmarsh Thornvale Underhill Westerly Yewbank"
).split()
_ORG_SECTORS = (
    "Dental Clinic", "Logistics", "Community College", "Housing Cooperative", "Veterinary Practice",
    "Law Partners", "Analytics", "Rowing Club", "Public Library", "Print Works", "Credit Union",
    "Design Studio", "Physiotherapy", "Insurance Brokers",
)
_DEPARTMENTS = ("Accounts", "Admissions", "Billing", "Facilities", "Human Resources",
                "Member Services", "Procurement", "Research", "Support", "Volunteer Office")
_TITLES = ("Accountant", "Operations Manager", "Project Coordinator", "Research Associate",
           "Office Administrator", "Senior Analyst", "Program Director", "Paralegal",
           "Facilities Supervisor", "Outreach Officer", "Lab Technician", "Data Engineer")
_TOPICS = ("quarterly report", "site visit", "budget review", "training schedule",
           "vendor onboarding", "annual survey", "grant application", "office move",
           "audit follow-up", "volunteer roster")
_LIST_NAMES = ("Weekly Bulletin", "Members Digest", "Neighbourhood Notes", "Alumni Circle",
               "Field Updates", "Staff Announcements")
# Handle words and host names: lowercase, and disjoint from every word used in the prompts.
_HANDLE_WORDS = (
    "amber basalt cobalt cricket dune ember fjord garnet heron indigo jasper kiln lumen marble "
    "nimbus onyx pebble quartz rook sable tundra umbra velvet walnut zephyr"
).split()
_HOST_WORDS = ("brisk", "calder", "mossy", "nerith", "orlo", "pavane", "tarn", "vellum", "zorin")
_DOMAIN_PATTERNS = ("example.com", "example.org", "example.net", "mail.example.com",
                    "{w}.test", "mail.{w}.test", "{w}.invalid")

_PERSON_TEMPLATES: dict[str, tuple[str, ...]] = {
    "signature": (
        "Best regards,\n{name}\n{title}, {org}\nE-mail:",
        "Thanks,\n{first}\n--\n{name} | {title}\n{org}\nTel: +1 555-01{nn}\nEmail:",
        "Kind regards,\n\n{name}\n{title}\n{dept}, {org}\nReach me at",
        "Sent on behalf of {name} ({title}, {org}) on {date}.\nPlease reply to",
    ),
    "contact": (
        "Hi all, this is {name} from {org}. If you have questions about the {topic}, contact me at",
        "For anything related to the {topic}, reach out to {name} ({title}, {org}) at",
        "{name} will coordinate the {topic} this year; send your availability to {first} at",
        "Questions about the {topic} announced on {date} can be sent directly to {name} at",
    ),
    "header": (
        "From: {name}\nTo: {dept} team\nDate: {date}\nSubject: Re: {topic}\nReply-To:",
        "Date: {date}\nSubject: Draft for the {topic}\nFrom: {name} ({org})\nReply-To:",
        "---------- Forwarded message ---------\nFrom: {name}\nDate: {date}\nSubject: {topic}\n"
        "Reply-To:",
    ),
    "directory": (
        "Staff directory, {org}\nName: {name}\nPosition: {title}\nDepartment: {dept}\nE-mail:",
        "{org} staff directory ({dept})\nName | Position | E-mail\n{name} | {title} |",
        "Team page, {dept} at {org}: {name}, {title}, joined on {date}. Contact:",
    ),
    "mailing_list": (
        "You are receiving this message because you subscribed to the {list_name} list. The list "
        "is moderated by {name}; to unsubscribe, write to",
        "_______________________________________________\n{list_name} mailing list, maintained by "
        "{name} ({org})\nList owner:",
        "{list_name}, issue of {date}. Moderator: {name}. Send items for the next issue to",
    ),
}
_ORG_TEMPLATES: dict[str, tuple[str, ...]] = {
    "signature": (
        "Sincerely,\nThe {dept} team\n{org}\nE-mail:",
        "{org} | {dept}\nOffice hours: Monday to Friday, 9am to 5pm\nWrite to us at",
        "Kind regards,\n{dept}, {org}\nThis message was sent on {date}. Replies go to",
    ),
    "contact": (
        "For questions about the {topic}, please contact the {dept} office of {org} at",
        "Customers of {org} can reach the {dept} desk by e-mail at",
        "If anything in the {topic} notice of {date} is unclear, {org} ({dept}) answers at",
    ),
    "header": (
        "From: {org} {dept}\nDate: {date}\nSubject: Your {topic}\nReply-To:",
        "Date: {date}\nFrom: {dept}, {org}\nSubject: Reminder: {topic}\nReply-To:",
        "---------- Forwarded message ---------\nFrom: {org} ({dept})\nDate: {date}\n"
        "Subject: {topic}\nReply-To:",
    ),
    "directory": (
        "{org} directory\nDepartment: {dept}\nShared mailbox:",
        "Useful contacts, {org}\nDepartment | E-mail\n{dept} |",
        "Directory of services, updated {date}: {org}, {dept}. Contact:",
    ),
    "mailing_list": (
        "This newsletter is sent by {org}. To unsubscribe, write to the {dept} team at",
        "_______________________________________________\n{list_name}, published by {org}\n"
        "Editorial contact:",
        "You receive the {list_name} of {org} because you are a member. Questions go to",
    ),
}
EMAIL_KINDS = tuple(_PERSON_TEMPLATES)


def is_reserved_domain(domain: str) -> bool:
    """Whether ``domain`` is one of :data:`RESERVED_DOMAINS` or a subdomain of one."""
    domain = domain.lower().rstrip(".")
    return any(domain == d or domain.endswith("." + d) for d in RESERVED_DOMAINS)


def _is_organisation(index: int) -> bool:
    return index % 4 == 3


def _organisation_names(n: int, rng: random.Random) -> list[str]:
    capacity = len(_ORG_STEMS) * len(_ORG_SECTORS)
    if n > capacity:
        raise ValueError(f"at most {capacity} distinct organisation names, asked for {n}")
    names: list[str] = []
    while len(names) < n:
        name = f"{rng.choice(_ORG_STEMS)} {rng.choice(_ORG_SECTORS)}"
        if name not in names:
            names.append(name)
    return names


def _random_handle(rng: random.Random, used_words: set[str]) -> str:
    style = rng.randrange(3)
    words = [w for w in _HANDLE_WORDS if w not in used_words]
    if style == 0 and words:  # a word no other subject's handle uses, and 2-4 digits: "heron83"
        return f"{rng.choice(words)}{rng.randint(10, 9999)}"
    if style < 2:  # two letters, an underscore and four digits: "tk_5821"
        return "".join(rng.choices(string.ascii_lowercase, k=2)) + f"_{rng.randint(1000, 9999)}"
    # random letters and digits, starting with a letter: "q7vx2kpm"
    rest = "".join(rng.choices(string.ascii_lowercase + string.digits, k=rng.randint(5, 7)))
    return rng.choice(string.ascii_lowercase) + rest


def _trigrams(word: str) -> set[str]:
    word = word.lower()
    return {word[i : i + 3] for i in range(len(word) - 2)}


def _context_trigrams(prompts: list[str]) -> set[str]:
    """Three-letter runs of the capitalized words (names, organisations, titles) of ``prompts``."""
    grams: set[str] = set()
    for prompt in prompts:
        for word in re.findall(r"[A-Z][A-Za-z]{2,}", prompt):
            grams |= _trigrams(word)
    return grams


def _realistic_address(rng: random.Random, pools: dict, is_org: bool,
                       context: set[str]) -> tuple[str, str]:
    """A local part and a domain built like real ones, from words no other subject uses."""
    if is_org:
        handle = handles.organisation_handle(rng, pools["slugs"], context)
    else:
        handle = handles.person_handle(rng, pools["given"], pools["family"], context)
    return handle, handles.organisation_domain(rng, pools["places"], context)


def generate_email_records(n_subjects: int = 40, seed: int = 0, *,
                           style: Literal["realistic", "hard"] = "realistic") -> list[Record]:
    """``n_subjects`` x 5 records (one per kind in :data:`EMAIL_KINDS`), deterministic per ``seed``.

    Args:
        n_subjects: How many people and organisations; each gets one unique address.
        seed: Seed of the local RNG that draws names, templates, fillers and addresses.
        style: ``"realistic"`` addresses or the ``"hard"`` random ones (see the module).

    Returns:
        The records, subject by subject (``person-00``, ``person-01``, ``person-02``,
        ``org-03``...), each subject's five kinds in the order of :data:`EMAIL_KINDS`.

    Raises:
        ValueError: If ``n_subjects`` is below 2 (one to forget, one to retain) or too large for
            the pools of names.
    """
    if n_subjects < 2:
        raise ValueError("need at least 2 subjects (one to forget, one to retain)")
    if style not in ("realistic", "hard"):
        raise ValueError(f"unknown style {style!r}: choose 'realistic' or 'hard'")
    rng = random.Random(seed)
    pools = handles.pools(random.Random(f"{seed}-addresses")) if style == "realistic" else None
    n_orgs = sum(_is_organisation(i) for i in range(n_subjects))
    people = iter(fictional_names(n_subjects - n_orgs, rng))
    organisations = iter(_organisation_names(n_orgs, rng))
    used_handles: set[str] = set()
    used_words: set[str] = set()
    records = []
    for i in range(n_subjects):
        is_org = _is_organisation(i)
        name = next(organisations) if is_org else next(people)
        fixed = {  # what stays the same across the subject's five records
            "name": name, "first": name.split()[0],
            "org": name if is_org else f"{rng.choice(_ORG_STEMS)} {rng.choice(_ORG_SECTORS)}",
            "dept": rng.choice(_DEPARTMENTS), "title": rng.choice(_TITLES),
        }
        templates = _ORG_TEMPLATES if is_org else _PERSON_TEMPLATES
        prompts = [
            rng.choice(templates[kind]).format(
                **fixed, date=random_date(rng), topic=rng.choice(_TOPICS),
                list_name=rng.choice(_LIST_NAMES), nn=f"{rng.randint(0, 99):02d}",
            )
            for kind in EMAIL_KINDS
        ]
        context = _context_trigrams(prompts)
        if pools is not None:
            handle, domain = _realistic_address(rng, pools, is_org, context)
        else:
            while True:
                handle = _random_handle(rng, used_words)
                if handle not in used_handles and not _trigrams(handle) & context:
                    break
            if handle.rstrip(string.digits) in _HANDLE_WORDS:  # "heron83": no other "heron..."
                used_words.add(handle.rstrip(string.digits))
            domain = rng.choice(_DOMAIN_PATTERNS).format(w=rng.choice(_HOST_WORDS))
        used_handles.add(handle)
        subject = f"{'org' if is_org else 'person'}-{i:02d}"
        records.extend(
            Record(subject=subject, kind=kind, prompt=prompt, target=f" {handle}@{domain}",
                   rule="email")
            for kind, prompt in zip(EMAIL_KINDS, prompts, strict=True)
        )
    return records
