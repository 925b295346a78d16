"""The synthetic SSN, e-mail and URL datasets: shape, split, determinism and privacy guarantees."""

import re
from collections import defaultdict
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from revs.data.emails import generate_email_records
from revs.data.handles import ROLES
from revs.data.people import FIRST_NAMES, LAST_NAMES
from revs.data.records import load_records, split_records
from revs.data.ssn import generate_ssn_records, is_issuable_ssn
from revs.data.urls import generate_url_records

GENERATORS = {
    "ssn": generate_ssn_records,
    "emails": generate_email_records,
    "urls": generate_url_records,
    "emails-hard": partial(generate_email_records, style="hard"),
    "urls-hard": partial(generate_url_records, style="hard"),
}
RULE_OF = {"ssn": "ssn", "emails": "email", "urls": "url", "emails-hard": "email",
           "urls-hard": "url"}
DATA = Path(__file__).resolve().parent.parent / "data"
SEEDS = (0, 1, 2, 17, 2024)
# Written out here rather than imported, so that the test checks the generators' own list.
RESERVED = ("example.com", "example.org", "example.net", "test", "example", "invalid")


def _reserved(host: str) -> bool:
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in RESERVED)


def _by_subject(records):
    groups = defaultdict(list)
    for record in records:
        groups[record.subject].append(record)
    return groups


def _trigrams(word):
    word = word.lower()
    return {word[i : i + 3] for i in range(len(word) - 2)}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def generator(request):
    return GENERATORS[request.param]


def test_same_seed_same_records_other_seed_other_records(generator):
    assert generator(40, seed=3) == generator(40, seed=3)
    first, second = generator(40, seed=3), generator(40, seed=4)
    assert first != second
    assert {r.secret for r in first} != {r.secret for r in second}


@pytest.mark.parametrize("seed", SEEDS)
def test_shape_and_paper_split(generator, seed):
    records = generator(40, seed=seed)
    assert len(records) == 200
    split = split_records(records, seed=seed)
    assert (len(split.forget), len(split.generality), len(split.retain)) == (20, 80, 100)
    parts = [*split.forget, *split.generality, *split.retain]
    assert sorted(map(repr, parts)) == sorted(map(repr, records))  # disjoint and covering
    forget_subjects = {r.subject for r in split.forget}
    forget_secrets = {r.secret for r in split.forget}
    assert len(forget_subjects) == 20
    assert all(r.subject in forget_subjects and r.secret in forget_secrets
               for r in split.generality)
    assert {r.subject for r in split.generality} == forget_subjects
    assert not {r.subject for r in split.retain} & forget_subjects
    assert not {r.secret for r in split.retain} & forget_secrets


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_one_secret_per_subject_never_shared(generator, seed):
    groups = _by_subject(generator(40, seed=seed))
    assert len(groups) == 40
    secrets = []
    for subject_records in groups.values():
        assert len(subject_records) == 5
        assert len({r.kind for r in subject_records}) == 5
        assert len({r.secret for r in subject_records}) == 1
        secrets.append(subject_records[0].secret)
    assert len(set(secrets)) == 40


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_target_is_a_space_then_a_secret_absent_from_every_prompt(generator, seed):
    records = generator(40, seed=seed)
    prompts = " ".join(r.prompt for r in records)
    for record in records:
        assert record.target == " " + record.secret
        assert record.prompt and not record.prompt[-1].isspace()
        assert record.secret not in prompts


@pytest.mark.parametrize("seed", SEEDS)
def test_ssns_are_never_issued(seed):
    for record in generate_ssn_records(40, seed=seed):
        assert re.fullmatch(r"\d{3}-\d{2}-\d{4}", record.secret)
        assert not is_issuable_ssn(record.secret)


@pytest.mark.parametrize("style", ["realistic", "hard"])
@pytest.mark.parametrize("seed", SEEDS)
def test_email_addresses_are_at_reserved_domains_absent_from_the_context(seed, style):
    groups = _by_subject(generate_email_records(40, seed=seed, style=style))
    for records in groups.values():
        local, domain = records[0].secret.split("@")
        assert re.fullmatch(r"[a-z0-9_]+" if style == "hard" else r"[a-z][a-z0-9_.]+[a-z0-9]",
                            local)
        assert _reserved(domain), domain
        for record in records:
            assert domain.lower() not in record.prompt.lower()
            assert local not in record.prompt.lower()


@pytest.mark.parametrize("style", ["realistic", "hard"])
@pytest.mark.parametrize("seed", SEEDS)
def test_email_local_part_is_not_derived_from_the_name_or_organisation(seed, style):
    name_words = set(FIRST_NAMES) | set(LAST_NAMES)
    for records in _by_subject(generate_email_records(40, seed=seed, style=style)).values():
        local = records[0].secret.split("@")[0]
        if style == "realistic" and records[0].subject.startswith("org-"):
            local = local.split(".", 1)[1]  # "bookings.kestrel": the role is a generic word
        words = {w for r in records for w in re.findall(r"[A-Za-z]{3,}", r.prompt)}
        names = words & name_words
        assert names or records[0].subject.startswith("org-")
        # No piece of three letters or more of a name, nor of any capitalized word of the context
        # (organisation, department, title), appears in the address's local part.
        for word in words:
            if word in names or word[0].isupper():
                assert not _trigrams(word) & _trigrams(local), (word, local)


@pytest.mark.parametrize("seed", SEEDS)
def test_realistic_addresses_share_no_word_between_subjects(seed):
    for generate in (generate_email_records, generate_url_records):
        secrets = [records[0].secret for records in _by_subject(generate(40, seed=seed)).values()]
        # A shared mailbox's role ("bookings.kestrel") is a generic word, shared as in life.
        words = [set(re.findall(r"[a-z]{4,}", s.split("@")[0].split(".")[-1] if "@" in s
                                and s.split(".")[0] in ROLES else s.split("@")[0] if "@" in s
                                else s.rsplit("/", 1)[1])) for s in secrets]
        for i, mine in enumerate(words):  # what the rule unlearns is each subject's own
            assert mine and not mine & set().union(*words[:i], *words[i + 1:]), secrets[i]


def _https_at_a_reserved_host(url: str, max_length: int):
    """The URL's parts, after the checks every generated URL passes; and its last segment."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and not parts.query and not parts.fragment
    assert _reserved(parts.hostname), url
    assert len(url) <= max_length
    return parts, parts.path.rsplit("/", 1)[1]


@pytest.mark.parametrize("seed", SEEDS)
def test_realistic_urls_at_reserved_hosts_end_in_a_slug_absent_from_the_context(seed):
    for records in _by_subject(generate_url_records(40, seed=seed)).values():
        url = records[0].secret
        parts, slug = _https_at_a_reserved_host(url, 56)
        assert re.fullmatch(r"[a-z]+-[a-z]+(-(20\d\d|v\d))?", slug), url
        for record in records:
            assert parts.hostname not in record.prompt.lower()
            capitalized = re.findall(r"[A-Z][A-Za-z]{2,}", record.prompt)
            own = slug + " " + parts.hostname.split(".")[-2]  # the site's own name
            for word in re.findall(r"[a-z]{3,}", own):
                assert not any(_trigrams(word) & _trigrams(c) for c in capitalized), (word, url)


@pytest.mark.parametrize("seed", SEEDS)
def test_urls_are_short_at_reserved_hosts_with_unguessable_tokens(seed):
    for records in _by_subject(generate_url_records(40, seed=seed, style="hard")).values():
        url = records[0].secret
        parts, token = _https_at_a_reserved_host(url, 45)
        assert re.fullmatch(r"[0-9A-Za-z]{6,10}", token), url
        for record in records:
            assert parts.hostname not in record.prompt.lower()
            assert token not in record.prompt


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_committed_csv_is_the_generators_output(name):
    folder = name.removesuffix("-hard")
    path = DATA / folder / f"{name}.csv"
    assert load_records(path) == GENERATORS[name](40, seed=0)
    assert {r.rule for r in load_records(path)} == {RULE_OF[name]}
    assert (DATA / folder / "README.md").is_file()


def test_generators_need_two_subjects(generator):
    with pytest.raises(ValueError, match="at least 2"):
        generator(1)


def test_split_rejects_bad_n_forget_and_empty_datasets():
    records = generate_ssn_records(4, seed=0)
    for n_forget in (0, 4, -1):
        with pytest.raises(ValueError, match="n_forget must be between 1 and 3 for 4 subjects"):
            split_records(records, seed=0, n_forget=n_forget)
    with pytest.raises(ValueError, match="empty dataset"):
        split_records([], seed=0)
    assert len(split_records(records, seed=0, n_forget=3).forget) == 3


def test_load_dataset_names_and_errors(tmp_path):
    from revs.data import load_dataset

    assert load_dataset("ssn") == generate_ssn_records(40, seed=0)
    assert len(load_dataset("urls", n_subjects=4)) == 20
    with pytest.raises(ValueError, match="unknown dataset 'pii'"):
        load_dataset("pii")
    path = tmp_path / "mine.csv"
    path.write_text("prompt,secret\nMy PIN is,4242\n")
    (record,) = load_dataset(str(path))
    assert record.prompt == "My PIN is" and record.target == " 4242"
    path.write_text("prompt\nonly a prompt\n")
    with pytest.raises(ValueError, match="missing column"):
        load_dataset(str(path))


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_datasheets_print_each_datasets_token_sharing(name):
    from revs.model import load_tokenizer
    from revs.sharing import token_sharing

    text = " ".join((DATA / name.removesuffix("-hard") / "README.md").read_text().split())
    if name.endswith("-hard"):
        text = text[text.index("**The hard variant**"):]
    figure = r"(\d\.\d\d)"
    stated = re.search(rf"[Ss]plit seeds 0, 1, 2\)?: {figure}, {figure}, {figure}", text).groups()
    tokenizer = load_tokenizer()
    records = GENERATORS[name](40, seed=0)
    measured = [f"{token_sharing(tokenizer, split_records(records, s)):.2f}" for s in (0, 1, 2)]
    assert list(stated) == measured
