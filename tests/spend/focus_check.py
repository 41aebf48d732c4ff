"""Run the FinOps Foundation's FOCUS validator on a CSV export; print {check: status} as JSON.

Runs in its own environment (``.venv-focus``, made by ``make install``): focus-validator
1.0.0, the release on PyPI, pins pandas < 3 and numpy < 2, which the project's own
environment is past. Usage: ``.venv-focus/bin/python tests/spend/focus_check.py FILE.csv
OVERRIDES.yaml DECIMAL_COLUMNS [DROP_COLUMN]`` (DECIMAL_COLUMNS comma-separated).
"""

import json
import os
import sys
from pathlib import Path

import pandas as pd
from focus_validator.rules.spec_rules import SpecRules
from focus_validator.validator import DEFAULT_VERSION_SETS_PATH


def main(path: str, overrides: str, decimals: str, drop: str | None = None) -> None:
    # Its currency check reads "focus_validator/utils/currency_codes.csv", relative to the
    # working directory: run it from the directory its package is installed in.
    os.chdir(Path(DEFAULT_VERSION_SETS_PATH).parents[2])
    rules = SpecRules(
        override_filename=overrides,
        rule_set_path=DEFAULT_VERSION_SETS_PATH,
        rules_version="1.0",
        column_namespace=None,
    )
    rules.load()
    # A CSV has no types: the columns are read as FOCUS declares them (decimals as numbers,
    # the rest as text), where pandas would guess int for whole quantities and float for a
    # column of nulls.
    decimal = set(decimals.split(","))
    columns = pd.read_csv(path, nrows=0).columns
    types = {c: "float64" if c in decimal else "object" for c in columns}
    frame = pd.read_csv(path, dtype=types, keep_default_na=False, na_values=[""])
    if drop:
        frame = frame.drop(columns=[drop])
    result = rules.validate(frame)
    print(json.dumps({name: check.status.value for name, check in result.checklist.items()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
