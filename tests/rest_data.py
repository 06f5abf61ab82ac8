"""The test API's data and response models (``tests/rest_app.py`` serves them).

The dataset is deterministic and built once at import: tests import ``USERS``, ``POSTS``,
``ITEMS`` and ``PRODUCTS`` to state exact expectations. The pydantic models only shape the
OpenAPI document: the app answers with these prebuilt records as they are.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel


# -- the dataset, built once -------------------------------------------------------------------
def _build() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(2024)
    cities = ["Lyon", "Oslo", "Porto", "Graz", "Turku", "Gent", "Cork", "Brno"]
    words = ["red", "blue", "new", "vip", "beta", "eu", "us", "trial"]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    users: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    for uid in range(1, 251):
        when = base + timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        orders = [
            {
                "order_id": uid * 10 + k,
                "amount": round(rng.uniform(5, 500), 2),
                "items": [
                    {"sku": f"SKU-{rng.randint(1, 40):03d}", "qty": rng.randint(1, 5)}
                    for _ in range(rng.randint(1, 3))
                ],
            }
            for k in range(rng.randint(0, 3))
        ]
        users.append(
            {
                "id": uid,
                "name": f"User {uid}",
                "email": f"user{uid}@example.com",
                "updated_at": when.isoformat().replace("+00:00", "Z"),
                "address": {
                    "city": rng.choice(cities),
                    "zip": f"{rng.randint(1000, 99999):05d}",
                    "geo": {
                        "lat": round(rng.uniform(-80, 80), 4),
                        "lng": round(rng.uniform(-170, 170), 4),
                    },
                },
                "tags": rng.sample(words, rng.randint(0, 3)),
                "orders": orders,
            }
        )
        for _ in range(rng.randint(0, 3)):
            posts.append({"id": len(posts) + 1, "user_id": uid, "title": f"Post {len(posts) + 1}"})
    return users, posts


USERS, POSTS = _build()
POSTS_BY_USER: dict[int, list[dict[str, Any]]] = {u["id"]: [] for u in USERS}
for _post in POSTS:
    POSTS_BY_USER[_post["user_id"]].append(_post)
ITEMS = [{"id": i, "name": n, "amount": a} for i, n, a in [(1, "a", 1.5), (2, "b", 2.5),
         (3, "c", 3.5), (4, "d", 4.5), (5, "e", 5.5)]]  # fmt: skip


# -- response models: they only shape the OpenAPI document (responses are prebuilt JSON) -------
class Geo(BaseModel):
    lat: float
    lng: float


class Address(BaseModel):
    city: str
    zip: str
    geo: Geo


class OrderItem(BaseModel):
    sku: str
    qty: int


class Order(BaseModel):
    order_id: int
    amount: float
    items: list[OrderItem]


class User(BaseModel):
    id: int
    name: str
    email: str
    updated_at: datetime
    address: Address
    tags: list[str]
    orders: list[Order]


class Post(BaseModel):
    id: int
    user_id: int
    title: str


class Item(BaseModel):
    id: int
    name: str
    amount: float


class UserPage(BaseModel):
    data: list[User]
    page: int
    per_page: int
    total: int
    total_pages: int


class UserOffsetPage(BaseModel):
    items: list[User]
    total: int


class UserCursorPage(BaseModel):
    results: list[User]
    next_cursor: str | None


class UserNextPage(BaseModel):
    data: list[User]
    next: str | None


class UserMorePage(BaseModel):
    data: list[User]
    has_more: bool


class PostPage(BaseModel):
    data: list[Post]
    total_pages: int


class ItemList(BaseModel):
    data: list[Item]


class ClashItem(BaseModel):
    id: int
    value: int | str


class ClashList(BaseModel):
    data: list[ClashItem]


class Token(BaseModel):
    access_token: str
    token_type: str
    expires_in: int


PRODUCTS = [{"id": i, "name": f"Product {i}", "price": round(3.5 * i, 2)} for i in range(1, 31)]


class Product(BaseModel):
    id: int
    name: str
    price: float


class ProductPage(BaseModel):
    items: list[Product]
    total: int
