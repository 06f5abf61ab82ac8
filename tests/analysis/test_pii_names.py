"""Which column names say the column holds a person's name."""

from __future__ import annotations

import pytest

from agent_orchestrated_etl.analysis.pii import by_name


@pytest.mark.parametrize(
    "column",
    ["first_name", "LastName", "customer_name", "contactName", "Employee Name", "cardholder_name",
     "account_holder_name", "passenger_name", "username"],
)  # fmt: skip
def test_a_persons_name_column(column: str) -> None:
    assert by_name(column) == "name"


@pytest.mark.parametrize(
    "column", ["name", "product_name", "file_name", "table_name", "company_name", "rename"]
)
def test_other_names_are_not_personal(column: str) -> None:
    assert by_name(column) is None
