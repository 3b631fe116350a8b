"""report.json, report.md and report.html of a run."""
import html
import json
from collections import OrderedDict
from pathlib import Path

OUTCOMES = ["killed", "survived", "uncompilable", "equivalent", "not run"]


def score(ms) -> tuple:
    killed = sum(1 for m in ms if m.status == "killed")
    survived = sum(1 for m in ms if m.status == "survived")
    total = killed + survived
    return killed, survived, (100.0 * killed / total if total else None)


def _fmt_score(s):
    return "-" if s is None else f"{s:.1f}%"


def _table(ms, key) -> list:
    rows = OrderedDict()
    for m in sorted(ms, key=key):
        rows.setdefault(key(m), []).append(m)
    out = []
    for k, group in rows.items():
        counts = {o: sum(1 for m in group if m.status == o) for o in OUTCOMES}
        out.append((k, counts, score(group)[2]))
    return out


def _tests_line(m) -> str:
    if m.tests:
        shown = ", ".join(m.tests[:12])
        more = f" (+{len(m.tests) - 12} more)" if len(m.tests) > 12 else ""
        return shown + more
    return "no test covers this line" if m.extra.get("coverage") else "(no coverage data)"


def write(out: Path, ms, meta: dict, texts: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    killed, survived, total_score = score(ms)
    counts = {o: sum(1 for m in ms if m.status == o) for o in OUTCOMES}
    summary = {"score": total_score, "counts": counts,
               "by_file": [{"file": k, **c, "score": s} for k, c, s in _table(ms, lambda m: m.file)],
               "by_operator": [{"operator": k, **c, "score": s}
                               for k, c, s in _table(ms, lambda m: m.op)]}
    survivors = [m for m in ms if m.status == "survived"]
    diffs = {m.id: m.diff(texts[m.file]) for m in survivors}
    data = {"meta": meta, "summary": summary, "mutants": [m.to_json() for m in ms]}
    for d in data["mutants"]:
        if d["id"] in diffs:
            d["diff"] = diffs[d["id"]]
    (out / "report.json").write_text(json.dumps(data, indent=1))
    (out / "report.md").write_text(markdown(ms, meta, summary, survivors, diffs))
    (out / "report.html").write_text(html_report(ms, meta, summary, survivors, diffs))
    return summary


def _md_table(title, rows) -> list:
    lines = [f"| {title} | score | killed | survived | uncompilable | equivalent | not run |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for k, c, s in rows:
        lines.append(f"| {k} | {_fmt_score(s)} | {c['killed']} | {c['survived']} | "
                     f"{c['uncompilable']} | {c['equivalent']} | {c['not run']} |")
    return lines


def score_tables(ms) -> str:
    k, s, sc = score(ms)
    lines = _md_table("file", _table(ms, lambda m: m.file)) + [""]
    lines += _md_table("operator", _table(ms, lambda m: m.op)) + [""]
    counts = {o: sum(1 for m in ms if m.status == o) for o in OUTCOMES}
    lines += _md_table("**total**", [("**total**", counts, sc)])
    return "\n".join(lines)


def found_within(ms) -> str:
    """Campaign suite: which target found each killed mutant, and how soon."""
    killed = [m for m in ms if m.status == "killed" and "time_to_kill" in m.extra]
    scored = [m for m in ms if m.status in ("killed", "survived")]
    lines = ["| mutant | where | operator | found by | kind | seconds |", "|---|---|---|---|---|---:|"]
    for m in sorted(killed, key=lambda m: m.extra["time_to_kill"]):
        lines.append(f"| `{m.id}` | {m.where} | {m.op} | {m.extra['fuzz_target']} | "
                     f"{m.extra['kill_kind']} | {m.extra['time_to_kill']:.0f} |")
    lines.append("")
    for limit in (10, 30, 60, 120, 300):
        n = sum(1 for m in killed if m.extra["time_to_kill"] <= limit)
        share = f"{100.0 * n / len(scored):.1f}%" if scored else "-"
        lines.append(f"- found within {limit} s: {n} of {len(scored)} ({share})")
    return "\n".join(lines)


def markdown(ms, meta, summary, survivors, diffs) -> str:
    lines = ["# Mutation testing report", "",
             f"- revision: `{meta.get('rev')}`; suite: {meta.get('suite')}; "
             f"files: {', '.join(meta.get('files', []))}",
             f"- mutants: {len(ms)} run of {meta.get('generated')} generated "
             f"(sample {meta.get('sample') or 'all'}, seed {meta.get('seed')})",
             f"- score = killed / (killed + survived): **{_fmt_score(summary['score'])}**",
             f"- time: {meta.get('seconds', 0):.0f} s, "
             f"{meta.get('mean_seconds', 0):.1f} s per mutant; coverage map "
             f"{meta.get('coverage_seconds', '-')} s",
             "" if not meta.get("interrupted") else "- **interrupted: partial report**", "",
             score_tables(ms), ""]
    if meta.get("suite") == "campaign":
        lines += ["## Found by the fuzzers", "",
                  f"Seconds per target: {meta.get('fuzz_seconds')}", "", found_within(ms), ""]
    lines += [f"## Surviving mutants ({len(survivors)})", ""]
    for m in survivors:
        reason = f" ({m.detail})" if m.detail else ""
        lines += [f"### `{m.id}` {m.where} {m.op}{reason}", "",
                  f"Tests over this line: {_tests_line(m)}", "", "```diff", diffs[m.id].rstrip(),
                  "```", ""]
    eq = [m for m in ms if m.status == "equivalent"]
    if eq:
        lines += [f"## Equivalent mutants ({len(eq)})", ""]
        lines += [f"- `{m.id}` {m.where} {m.op} `{m.original}` -> `{m.replacement}`: {m.detail}"
                  for m in eq]
        lines.append("")
    return "\n".join(lines)


def html_report(ms, meta, summary, survivors, diffs) -> str:
    e = html.escape

    def table(title, rows):
        head = "".join(f"<th>{h}</th>" for h in
                       (title, "score", "killed", "survived", "uncompilable", "equivalent", "not run"))
        body = "".join(
            f"<tr><td>{e(str(k))}</td><td>{_fmt_score(s)}</td>" +
            "".join(f"<td>{c[o]}</td>" for o in OUTCOMES) + "</tr>" for k, c, s in rows)
        return f"<table><tr>{head}</tr>{body}</table>"

    def diff_html(d):
        out = []
        for line in d.splitlines():
            cls = "add" if line.startswith("+") and not line.startswith("+++") else \
                "del" if line.startswith("-") and not line.startswith("---") else ""
            out.append(f'<span class="{cls}">{e(line)}</span>')
        return "\n".join(out)

    surv = "".join(
        f"<h3><code>{m.id}</code> {e(m.where)} {e(m.op)}</h3>"
        f"<p>Tests over this line: {e(_tests_line(m))}</p><pre>{diff_html(diffs[m.id])}</pre>"
        for m in survivors)
    counts = {o: sum(1 for m in ms if m.status == o) for o in OUTCOMES}
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Mutation report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}
pre{{background:#f6f6f6;padding:8px}}.add{{color:#060}}.del{{color:#a00}}</style></head><body>
<h1>Mutation testing report</h1>
<p>revision <code>{e(str(meta.get('rev')))}</code>, suite {e(str(meta.get('suite')))},
score <b>{_fmt_score(summary['score'])}</b> ({len(ms)} mutants{', interrupted' if meta.get('interrupted') else ''})</p>
{table('file', _table(ms, lambda m: m.file))}
{table('operator', _table(ms, lambda m: m.op))}
{table('total', [('total', counts, summary['score'])])}
<h2>Surviving mutants ({len(survivors)})</h2>{surv}</body></html>
"""
