"""Write dativo_workers/governance/person_names.txt.gz: the given and family names of every locale of
Faker's person providers (the `faker` dev dependency), folded the way the PII detector folds a value's
words (``pii.fold_name_token``: lower case, accents dropped), one a line.

    .venv/bin/python scripts/make_name_gazetteer.py

The PII detector reads the file to want real name words before it calls a column person names (an
account's display name `Everyday Saver` or a product `SeaGreen Nostrum Sneaker` has none) and to see a
login (`ashleydavid`, `o-hullaincharmaine`) in a user's `name`.
"""

from __future__ import annotations

import gzip
import importlib
import pkgutil
import re
from pathlib import Path

import faker.providers.person as person

from dativo_workers.governance.pii import fold_name_token

OUT = Path(__file__).resolve().parent.parent / "dativo_workers" / "governance" / "person_names.txt.gz"
MIN_LENGTH = 2


def _strings(value: object) -> list[str]:
    if isinstance(value, dict):
        value = list(value.keys())
    if isinstance(value, (list, tuple, set, frozenset)):
        return [v for v in value if isinstance(v, str)]
    return []


def main() -> None:
    names: set[str] = set()
    for module_info in pkgutil.iter_modules(person.__path__):
        module = importlib.import_module(f"{person.__name__}.{module_info.name}")
        provider = getattr(module, "Provider", None)
        if provider is None:
            continue
        for attribute in dir(provider):
            if attribute.startswith(("first_names", "last_names")):
                for name in _strings(getattr(provider, attribute, None)):
                    for token in re.split(r"[\s'\u2019-]+", name):
                        folded = fold_name_token(token)
                        if len(folded) >= MIN_LENGTH and folded.isalpha():
                            names.add(folded)
    OUT.write_bytes(gzip.compress("\n".join(sorted(names)).encode("utf-8") + b"\n", mtime=0))
    print(f"{OUT}: {len(names)} names")


if __name__ == "__main__":
    main()
