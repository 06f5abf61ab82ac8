"""Profile a realistic, slightly dirty orders table and write its HTML quality report and a
screenshot of it (the one in docs/quality.md).

The table has 4,000 rows of seeded data with the problems real exports have: missing
values, an amount typed in cents by mistake (an outlier), a country seen three times (a rare
category), emails (personal data, left out of the report), a few malformed emails, and
duplicate rows. Three smaller, cleaner versions are profiled first, so the report shows a
score trend and the changes against the previous profile.

Run: python examples/quality_report.py [--out DIR] [--png PATH]
(needs the quality extra and, for the PNG, Debian's chromium: `make test` installs it.)
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from faker import Faker

from agent_orchestrated_etl import DataOrchestrator
from agent_orchestrated_etl.quality.html import render_html

ROOT = Path(__file__).resolve().parents[1]
COUNTRIES = ["DE", "FR", "GB", "US", "NL", "SE", "ES", "IT", "PL", "CH"]
WEIGHTS = [22, 15, 14, 20, 7, 5, 6, 5, 4, 2]
STATUSES = ["paid", "shipped", "delivered", "refunded"]
CHROMIUM = "/usr/bin/chromium"


def write_orders(path: Path, rows: int, *, dirty: bool, seed: int) -> None:
    """Write ``rows`` orders; ``dirty`` adds the outlier, the rare country and more nulls."""
    fake, rng = Faker("en_GB"), random.Random(seed)
    fake.seed_instance(seed)
    start = datetime(2026, 5, 1)
    null_share = 0.06 if dirty else 0.01
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["order_id", "customer_email", "country", "status", "amount", "quantity",
                      "discount_code", "ordered_at", "shipped_days", "channel"])  # fmt: skip
        last: list[object] = []
        for i in range(rows):
            if dirty and i % 997 == 3 and last:
                out.writerow(last)  # an exported row written twice
                continue
            email = fake.email() if rng.random() > 0.01 else fake.user_name() + "(at)mail"
            country = (
                "AQ" if dirty and i in (100, 1900, 3100) else rng.choices(COUNTRIES, WEIGHTS)[0]
            )
            amount = round(rng.lognormvariate(3.6, 0.7), 2)
            if dirty and i == 2500:
                amount = 184_900.0  # typed in cents
            row: list[object] = [
                10_000 + i,
                email,
                country,
                rng.choices(STATUSES, [50, 30, 15, 5])[0] if rng.random() > null_share else "",
                amount,
                rng.choice([1, 1, 1, 2, 2, 3, 4]) if rng.random() > null_share else "",
                f"SPRING{rng.randrange(10, 30)}" if rng.random() < 0.12 else "",
                (start + timedelta(minutes=rng.randrange(60 * 24 * 120))).isoformat(" "),
                rng.randrange(1, 9),
                rng.choices(["web", "app", "phone"], [60, 35, 5])[0],
            ]
            out.writerow(row)
            last = row


def screenshot(html: Path, png: Path, *, height: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--screenshot={png}", f"--window-size=1280,{height}", html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "demo_out" / "quality")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "img" / "quality-report.png")
    parser.add_argument("--height", type=int, default=2000, help="screenshot height in pixels")
    args = parser.parse_args()
    args.out, args.png = args.out.resolve(), args.png.resolve()
    shutil.rmtree(args.out, ignore_errors=True)  # a fresh history: the same report every time
    args.out.mkdir(parents=True)
    orch = DataOrchestrator(home=args.out / ".aoetl")
    os.chdir(args.out)  # the report names the source as a user would type it: orders.csv
    data = Path("orders.csv")
    for version, rows in enumerate((3200, 3400, 3500)):
        write_orders(data, rows, dirty=False, seed=version)
        orch.profile(str(data))
    write_orders(data, 4000, dirty=True, seed=42)
    reports = orch.profile(str(data))
    html = args.out / "quality-report.html"
    html.write_text(render_html(reports, title="Orders: data quality"), encoding="utf-8")
    print(f"wrote {html}")
    if shutil.which(CHROMIUM):
        args.png.parent.mkdir(parents=True, exist_ok=True)
        screenshot(html, args.png, height=args.height)
        print(f"wrote {args.png}")
    else:
        print(f"no {CHROMIUM}: no screenshot (make test installs it)")


if __name__ == "__main__":
    main()
