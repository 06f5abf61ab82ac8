"""Regenerate examples/sample_data/: a small shop with customers, products, orders and items.

The data is deterministic (seeded) and carries the problems real exports have: a ragged row,
an amount that is not a number, a byte that is not UTF-8, a malformed JSON line, duplicate
customers and missing emails. Run: python examples/make_sample_data.py
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from datetime import date, timedelta
from pathlib import Path

OUT = Path(__file__).parent / "sample_data"
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]
CITIES = ["Zürich", "København", "São Paulo", "Kraków", "Montréal", "Reykjavík", "Oslo", "Lyon"]
PRODUCTS = [
    ("Espresso beans, 1kg", "coffee", 24.90),
    ('Grinder "Burr Pro"', "equipment", 189.00),
    ("Milk jug", "equipment", 15.50),
    ("Decaf beans, 500g", "coffee", 13.20),
    ("Paper filters (100)", "supplies", 4.75),
    ("Cold brew kit", "equipment", 42.00),
]


def main() -> None:
    rng = random.Random(7)
    OUT.mkdir(exist_ok=True)
    with (OUT / "customers.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["customer_id", "name", "email", "city", "signed_up"])
        for cid in range(1, 121):
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = "" if cid % 17 == 0 else f"{name.split()[0].lower()}{cid}@example.com"
            signed = date(2022, 1, 1) + timedelta(days=rng.randrange(900))
            w.writerow([cid, name, email, rng.choice(CITIES), signed.isoformat()])
        w.writerow([42, "Duplicate Customer", "dup@example.com", "Oslo", "2023-05-01"])
    products = [
        {"product_id": i + 1, "name": n, "category": c, "price": p, "tags": [c, "shop"]}
        for i, (n, c, p) in enumerate(PRODUCTS)
    ]
    (OUT / "products.json").write_text(json.dumps(products, ensure_ascii=False, indent=1))
    order_id = 1000
    items: list[str] = []
    for month in (1, 2, 3):
        lines = ["order_id,customer_id,ordered_at,status,amount"]
        for _ in range(140):
            order_id += 1
            day = date(2024, month, rng.randrange(1, 28))
            status = rng.choice(["paid", "paid", "paid", "shipped", "refunded"])
            total = 0.0
            for line_no in range(1, rng.randrange(2, 4)):
                pid, qty = rng.randrange(1, 7), rng.randrange(1, 4)
                if order_id % 97 == 0:
                    qty = -qty  # a quality problem: negative quantity
                total += qty * PRODUCTS[pid - 1][2]
                items.append(
                    json.dumps(
                        {"order_id": order_id, "line": line_no, "product_id": pid, "quantity": qty}
                    )
                )
            at = f"{day}T{rng.randrange(8, 20):02d}:15:00"
            lines.append(f"{order_id},{rng.randrange(1, 121)},{at},{status},{total:.2f}")
        if month == 1:
            lines.append(f"{order_id + 500},17,2024-01-30T10:00:00,paid")  # ragged: no amount
        if month == 2:
            lines.append(f"{order_id + 501},18,2024-02-11T09:30:00,paid,N/A")  # not a number
        body = ("\n".join(lines) + "\n").encode()
        if month == 3:
            body += f"{order_id + 502},19,2024-03-02T12:00:00,caf\xe9,9.90\n".encode("latin-1")
        (OUT / f"orders_2024-{month:02d}.csv").write_bytes(body)
    items.insert(25, '{"order_id": 1010, "line": 9, "product_id": 2, "quantity": ')  # truncated
    with gzip.open(OUT / "order_items.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(items) + "\n")


if __name__ == "__main__":
    main()
