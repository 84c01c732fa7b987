"""Generate the demo CSV (deterministic) used by config/jobs/acme/customers.yaml."""

from __future__ import annotations

import argparse
import csv
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

FIRST = ["Ana", "Björn", "Chloé", "Dmitri", "Eve", "François", "Grace", "Hiro", "Ines", "José", "Kai", "Lena"]
LAST = ["Silva", "Öztürk", "Nguyen", "Smith", "García", "Müller", "Kowalski", "O'Brien", "Rossi", "Tanaka"]
COUNTRIES = ["PT", "DE", "FR", "US", "JP", "BR", "PL", "IE", "IT", "ES"]


def write_customers(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            ["customer_id", "full_name", "email", "country", "signup_date", "lifetime_value", "is_active", "updated_at"]
        )
        for i in range(1, rows + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            signup = date(2020, 1, 1) + timedelta(days=rng.randrange(1500))
            updated = start + timedelta(seconds=rng.randrange(365 * 86400))
            out.writerow(
                [
                    i,
                    f"{first} {last}",
                    f"{first.lower()}.{i}@example.com",
                    rng.choice(COUNTRIES),
                    signup.isoformat(),
                    f"{rng.uniform(0, 5000):.2f}",
                    rng.choice(["true", "false"]),
                    updated.isoformat().replace("+00:00", "Z"),
                ]
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent.parent / "config/data/customers.csv"
    )
    args = parser.parse_args()
    write_customers(args.out, args.rows)
    print(f"wrote {args.rows} rows to {args.out}")
