"""Reads a NACHA file on stdin with achkit, an independent parser and validator
(PyPI `achkit`, pinned in the test's install instructions), and prints what it found as
JSON: achkit's reconciliation verdict and errors, and the totals it read, so the Rust
test can compare them with what the writer meant to write.

Run: $ACCRUE_VENV/bin/python tests/nacha_check.py < file.ach
"""
import json
import sys

import achkit

text = sys.stdin.read()
verdict = achkit.validate(text)
parsed = achkit.parse(text)
rows = [r for r in text.splitlines() if r]
entries = [e for b in parsed["batches"] for e in b["entries"]]
print(json.dumps({
    "achkit_version": achkit.__version__,
    "ok": verdict["ok"],
    "errors": verdict["errors"],
    "records": len(rows),
    "record_lengths": sorted({len(r) for r in rows}),
    "batch_count": len(parsed["batches"]),
    "sec_codes": [b["sec"] for b in parsed["batches"]],
    "entry_count": len(entries),
    "entry_amounts_cents": [e["amount_cents"] for e in entries],
    "entry_ids": [e["id_number"] for e in entries],
    "trace_numbers": [e["trace_number"] for e in entries],
    "transaction_codes": [e["txn_code"] for e in entries],
    "batch_credit_totals": [b["control"]["total_credit"] for b in parsed["batches"]],
    "batch_entry_hashes": [b["control"]["entry_hash"] for b in parsed["batches"]],
    "file_control": parsed["control"],
}, indent=1, sort_keys=True))
