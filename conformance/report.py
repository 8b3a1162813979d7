#!/usr/bin/env python3
"""Prints the conformance table: each row of conformance/articles.toml with the results its
scenarios had in a `cargo test` log.

    report.py [--strict] [--markdown FILE] ARTICLES_TOML CARGO_TEST_LOG
    report.py --cargo-args ARTICLES_TOML    the `cargo test` arguments that run the scenarios

The log is what `cargo test` printed (stdout and stderr together): "Running tests/NAME.rs"
opens each test binary and "test SCENARIO ... ok" gives each result. Exits 1 when a row
fails, a scenario named in the map did not run, an article from 5 to 25 has no row or a row
is malformed; with --strict also when a row names an open issue.
"""
import argparse
import re
import sys
import tomllib

ARTICLES = range(5, 26)
RUNNING = re.compile(r"^\s*Running (?:\S+/)?(?:tests/)?(?P<binary>[\w-]+)\.rs\b")
RESULT = re.compile(r"^test (?P<name>\S+) \.\.\. (?P<result>ok|FAILED|ignored)")


def results(log):
    """{(binary, test): "ok" | "FAILED" | "ignored"} from a cargo test log."""
    found, binary = {}, None
    for line in log.splitlines():
        if m := RUNNING.match(line):
            binary = m["binary"]
        elif (m := RESULT.match(line)) and binary:
            found[(binary, m["name"])] = m["result"]
    return found


def verdict(row, found):
    """(row result, [(scenario, its result)])."""
    kinds = [k for k in ("scenarios", "not_software", "open_issue") if k in row]
    if len(kinds) != 1:
        return "malformed", [("row must have exactly one of scenarios, not_software, open_issue", "")]
    if "not_software" in row:
        return "not software", [(row["not_software"], "")]
    if "open_issue" in row:
        return f"open (#{row['open_issue']})", [(row.get("missing", ""), "")]
    lines, ok = [], bool(row["scenarios"])
    for scenario in row["scenarios"]:
        binary, _, test = scenario.partition("::")
        result = found.get((binary, test), "did not run")
        result = {"ok": "pass", "FAILED": "FAIL"}.get(result, result)
        ok &= result == "pass"
        lines.append((f"`{scenario}`", result))
    return ("pass" if ok else "FAIL"), lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--strict", action="store_true", help="an open issue fails its row")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--cargo-args", action="store_true", help="print cargo test's arguments")
    parser.add_argument("articles")
    parser.add_argument("log", nargs="?")
    args = parser.parse_args()
    with open(args.articles, "rb") as f:
        rows = tomllib.load(f).get("row", [])
    if args.cargo_args:
        names = sorted({s for row in rows for s in row.get("scenarios", [])})
        binaries = sorted({name.split("::")[0] for name in names})
        print("\n".join([a for b in binaries for a in ("--test", b)] + ["--", "--exact"]
                        + [name.split("::", 1)[1] for name in names]))
        return 0
    if not args.log:
        parser.error("the cargo test log is missing")
    with open(args.log, encoding="utf-8", errors="replace") as f:
        found = results(f.read())

    table = ["| 条 article | 要求 requirement | 场景 scenario | 结果 result |", "|---|---|---|---|"]
    failed, tally = [], {}
    for row in rows:
        outcome, lines = verdict(row, found)
        tally[outcome.split(" (")[0]] = tally.get(outcome.split(" (")[0], 0) + 1
        bad = outcome in ("FAIL", "malformed") or (args.strict and outcome.startswith("open"))
        if bad:
            failed.append(f"art. {row.get('article', '?')}: {row.get('en', '?')} ({outcome})")
        requirement = f"{row.get('zh', '')}<br>{row.get('en', '')}"
        for i, (scenario, result) in enumerate(lines):
            cells = (row.get("article", "?"), requirement) if i == 0 else ("", "")
            shown = result if "scenarios" in row and outcome != "malformed" else f"**{outcome}**"
            table.append(f"| {cells[0]} | {cells[1]} | {scenario} | {shown} |")

    covered = {str(row.get("article")) for row in rows}
    missing = [str(a) for a in ARTICLES if str(a) not in covered]
    for article in missing:
        failed.append(f"art. {article}: no row")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
    text = "\n".join(table) + f"\n\n{len(rows)} rows over articles 5–25: {summary}.\n"
    if failed:
        text += "\nFailing:\n" + "".join(f"- {f}\n" for f in failed)
    print(text)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write("# Conformance to the recording rules, article by article\n\n")
            f.write("Printed by `scripts/conformance.sh` from `conformance/articles.toml`; "
                    "each scenario is a test that drives the standalone server through its "
                    "API and command line. 条 = article of 行政执法全过程记录制度.\n\n")
            f.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
