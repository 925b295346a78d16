"""Fictional people, organisations and dates for the synthetic datasets, drawn from a seeded RNG.

The names are common first and last names combined at random: any match with a real person is a
coincidence, and no record pairs a name with real data.
"""

from __future__ import annotations

import random

__all__ = ["MONTHS", "fictional_names", "random_date"]

FIRST_NAMES = (
    "Aaliyah Adrian Aisha Alejandro Amara Andrei Anika Arjun Beatriz Bilal Brandon Camila Chen "
    "Chiara Daniel Dmitri Elena Emeka Fatima Felix Grace Hamid Hana Hugo Ingrid Isaac Jamal Jia "
    "Kai Kateryna Kofi Laila Leon Lucia Malik Maya Mateo Mei Nadia Naveen Nora Oliver Omar Priya "
    "Rafael Rebecca Rohan Rosa Samir Sara Sofia Tariq Thea Tomas Valentina Wei Yusuf Zara Zoe"
).split()
LAST_NAMES = (
    "Abbott Adeyemi Alvarez Andersen Banerjee Becker Brennan Castillo Chowdhury Costa Dubois "
    "Eriksen Fischer Fontaine Garcia Gupta Haddad Hansen Hoffman Ibrahim Ivanova Jensen Kaur "
    "Kim Kowalski Larsen Lindqvist Lopez Mahmoud Moreau Murphy Nakamura Nguyen Novak Okafor "
    "Olsen Park Patel Petrov Quinn Rahman Rossi Santos Schmidt Silva Sorensen Tanaka Torres "
    "Varga Walsh Weber Yamamoto Zhou Zielinski"
).split()
MONTHS = (
    "January February March April May June July August September October November December"
).split()


def fictional_names(n: int, rng: random.Random) -> list[str]:
    """``n`` distinct "First Last" names."""
    if n > len(FIRST_NAMES) * len(LAST_NAMES):
        raise ValueError(f"at most {len(FIRST_NAMES) * len(LAST_NAMES)} distinct names")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < n:
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def random_date(rng: random.Random, first_year: int = 2010, last_year: int = 2022) -> str:
    """A date between ``first_year`` and ``last_year``, as "d-m-yyyy" or "Month d, yyyy"."""
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(first_year, last_year)
    if rng.random() < 0.5:
        return f"{day}-{month}-{year}"
    return f"{MONTHS[month - 1]} {day}, {year}"
