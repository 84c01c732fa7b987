# ruff: noqa: E501
"""The dashboard's Jinja2 templates (in the package: nothing to install beside it, no build step)."""

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{% block title %}dativo runs{% endblock %}</title>
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<style>
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222}
a{color:#1565c0;text-decoration:none} a:hover{text-decoration:underline}
table{border-collapse:collapse;margin:.5em 0 1.2em} th,td{padding:3px 8px;border-bottom:1px solid #e0e0e0;
text-align:left;font-size:13px;vertical-align:top} th{background:#f5f5f5;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{padding:1px 6px;border-radius:3px;color:#fff;font-size:12px}
.state-committed,.state-done,.state-pass{background:#2e7d32} .state-failed,.state-fail{background:#c62828}
.state-running,.state-committing{background:#1565c0} .state-pending,.state-not-run{background:#9e9e9e}
.state-cancelled{background:#6d4c41}
.bar{display:inline-block;width:120px;height:9px;background:#eee;border-radius:4px;overflow:hidden}
.bar span{display:inline-block;height:100%;vertical-align:top;background:#1565c0} .bar span.failed{background:#c62828}
td.nowrap{white-space:nowrap} td.error{min-width:240px;max-width:460px;overflow-wrap:anywhere}
.error{color:#c62828;white-space:pre-wrap;font-size:12px} .muted{color:#777;font-size:12px}
tr.this-run{background:#fff8e1} h1{font-size:20px} h2{font-size:16px;margin-top:1.4em} h3{font-size:14px}
form.filters{margin:.5em 0} form.filters input,form.filters select{font-size:13px}
</style></head><body>
<nav><a href="/">runs</a>{% if tenant_scope %} <span class="muted">tenant {{ tenant_scope }}</span>{% endif %}
<span class="muted"> read-only; {{ now }}</span></nav>
{% block body %}{% endblock %}
</body></html>
"""

RUNS = """{% extends "base.html" %}
{% block body %}
<h1>Runs</h1>
<form class="filters" method="get">
tenant <input name="tenant" value="{{ filters.tenant or '' }}" size="10">
job <input name="job" value="{{ filters.job or '' }}" size="14">
state <select name="state"><option value="">any</option>
{% for s in states %}<option{% if filters.state == s %} selected{% endif %}>{{ s }}</option>{% endfor %}</select>
<button>filter</button></form>
{% if not runs %}<p>No runs in the ledger{% if filters.tenant or filters.job or filters.state %} for this filter{% endif %}.</p>
{% else %}
<table id="runs"><tr><th>run</th><th>state</th><th>progress</th><th>started (UTC)</th><th>duration</th>
<th>tenant</th><th>job</th><th>table</th><th>rows</th><th>bad rows</th><th>error</th></tr>
{% for r in runs %}
<tr class="run" data-run-id="{{ r.run_id }}" data-state="{{ r.state }}">
<td class="nowrap"><a href="/runs/{{ r.run_id }}">{{ r.run_id }}</a></td>
<td><span class="state state-{{ r.state }}">{{ r.state }}</span></td>
<td class="nowrap"><span class="bar"><span style="width:{{ (r.progress_done * 100)|round(1) }}%"></span><span class="failed" style="width:{{ (r.progress_failed * 100)|round(1) }}%"></span></span>
<span class="muted">{{ r.partitions_done }}/{{ r.partitions_total }}{% if r.partitions_failed %}, {{ r.partitions_failed }} failed{% endif %}</span></td>
<td class="nowrap">{{ r.started_at[:19]|replace("T", " ") }}</td><td class="num">{{ r.duration_s|duration }}</td>
<td>{{ r.tenant }}</td><td><a href="/jobs/{{ r.tenant }}/{{ r.job }}">{{ r.job }}</a></td><td>{{ r.table }}</td>
<td class="num">{{ "{:,}".format(r.rows) }}</td><td class="num">{{ r.bad_rows }}</td>
<td class="error">{{ (r.error or '')|truncate(100) }}</td></tr>
{% endfor %}</table>
{% endif %}
<p class="muted">JSON: <a href="/api/runs">/api/runs</a>{% if refresh %}; refreshes every {{ refresh }} s while a run is active{% endif %}</p>
{% endblock %}
"""

RUN = """{% extends "base.html" %}
{% block title %}run {{ run.run_id }}{% endblock %}
{% block body %}
<h1>Run {{ run.run_id }} <span class="state state-{{ run.state }}">{{ run.state }}</span></h1>
<table><tr><th>tenant</th><td>{{ run.tenant }}</td><th>job</th><td><a href="/jobs/{{ run.tenant }}/{{ run.job }}">{{ run.job }}</a></td>
<th>table</th><td>{{ run.table }}</td></tr>
<tr><th>started (UTC)</th><td>{{ run.started_at[:19]|replace("T", " ") }}</td><th>duration</th><td>{{ run.duration_s|duration }}</td>
<th>snapshot</th><td>{{ run.snapshot_id or '' }}</td></tr>
<tr><th>rows</th><td class="num">{{ "{:,}".format(run.rows) }}</td><th>files</th><td class="num">{{ run.files }}</td>
<th>bad rows</th><td class="num">{{ run.bad_rows }}</td></tr>
<tr><th>partitions</th><td colspan="5">{{ run.partitions_done }} done, {{ run.partitions_failed }} failed of {{ run.partitions_total }}</td></tr>
{% if run.error %}<tr><th>error</th><td colspan="5" class="error">{{ run.error }}</td></tr>{% endif %}
{% if run.message %}<tr><th>note</th><td colspan="5">{{ run.message }}</td></tr>{% endif %}
</table>

<h2>Partitions</h2>
{{ timeline }}
<table id="partitions"><tr><th>#</th><th>source</th><th>state</th><th>attempts</th><th>started (UTC)</th><th>duration</th>
<th>rows</th><th>bad rows</th><th>worker</th><th>error</th></tr>
{% for p in run.partition_rows %}<tr class="partition" data-idx="{{ p.idx }}">
<td class="num">{{ p.idx }}</td><td>{{ p.label }}</td><td><span class="state state-{{ p.state }}">{{ p.state }}</span></td>
<td class="num">{{ p.attempts }}</td><td>{{ (p.started or '')[:19]|replace("T", " ") }}</td>
<td class="num">{{ p.duration_s|duration if p.duration_s is not none else '' }}</td>
<td class="num">{{ "{:,}".format(p.rows) }}</td><td class="num">{{ p.bad_rows }}</td><td class="muted">{{ p.worker or '' }}</td>
<td class="error">{{ p.error or '' }}</td></tr>{% endfor %}
</table>
{% if run.partition_rows|length < run.partitions|length %}<p class="muted">{{ run.partition_rows|length }} of
{{ run.partitions|length }} partitions listed (the first ones, and every failed or retried one); all are in the timeline
and in <a href="/api/runs/{{ run.run_id }}">/api/runs/{{ run.run_id }}</a></p>{% endif %}

<h2>Schema changes</h2>
{% if run.schema_changes and run.schema_changes.created %}<p>the run creates the table</p>{% endif %}
{% if not run.schema_rows %}<p class="muted">{{ 'none' if run.schema_changes else 'none recorded' }}</p>
{% else %}<table id="schema-changes"><tr><th>change</th><th>column</th><th>detail</th></tr>
{% for kind, column, detail in run.schema_rows %}<tr><td>{{ kind }}</td><td>{{ column }}</td><td>{{ detail }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Quality</h2>
{% if not run.quality %}<p class="muted">no quality rules (or not evaluated yet)</p>
{% else %}<table id="quality"><tr><th>rule</th><th>column</th><th>expected</th><th>measured</th><th>status</th>
<th>severity</th><th>message</th></tr>
{% for q in run.quality %}<tr><td>{{ q.rule }}</td><td>{{ q.column or '' }}</td><td>{{ q.expected or '' }}</td>
<td class="num">{{ q.value if q.value is not none else '' }}{% if q.unit == 'percent' and q.value is not none %}%{% endif %}</td>
<td><span class="state state-{{ q.status|replace(' ', '-') }}">{{ q.status }}</span>{% if q.fails_run %} fails the run{% endif %}</td>
<td>{{ q.severity or '' }}</td><td>{{ q.message or q.description or '' }}</td></tr>{% endfor %}
</table>{% endif %}

<h2>Table {{ run.table }}</h2>
{% set t = run.table_info %}
{% if t.error %}<p class="muted">{{ t.error }}</p>{% else %}
<h3>Columns and governance tags</h3>
<table id="columns"><tr><th>column</th><th>type</th><th>required</th><th>classification</th><th>description</th></tr>
{% for c in t.columns %}<tr><td>{{ c.name }}</td><td>{{ c.type }}</td><td>{{ 'yes' if c.required else '' }}</td>
<td>{{ c.classification or '' }}</td><td class="muted">{{ c.doc or '' }}</td></tr>{% endfor %}</table>
{% if t.governance %}<table id="governance"><tr><th>table property</th><th>value</th></tr>
{% for k, v in t.governance.items() %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>{% endif %}
<h3>Snapshots (newest first)</h3>
<table id="snapshots"><tr><th>snapshot</th><th>committed (UTC)</th><th>operation</th><th>run</th><th>added rows</th><th>run tags</th></tr>
{% for s in t.snapshots %}<tr class="snapshot{% if s.run_id == run.run_id %} this-run{% endif %}">
<td>{{ s.snapshot_id }}</td><td>{{ (s.time or '')[:19]|replace("T", " ") }}</td><td>{{ s.operation }}</td>
<td>{% if s.run_id %}<a href="/runs/{{ s.run_id }}">{{ s.run_id }}</a>{% endif %}</td><td class="num">{{ s.added_records or '' }}</td>
<td class="muted">{% for k, v in s.tags.items() %}{{ k }}={{ v|truncate(60) }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}
<p class="muted">JSON: <a href="/api/runs/{{ run.run_id }}">/api/runs/{{ run.run_id }}</a></p>
{% endblock %}
"""

JOB = """{% extends "base.html" %}
{% block title %}job {{ tenant }}/{{ job }}{% endblock %}
{% block body %}
<h1>Job {{ job }} <span class="muted">tenant {{ tenant }}</span></h1>
{% if not runs %}<p>No runs of this job in the ledger.</p>{% else %}
{{ throughput }}
{{ durations }}
<table id="job-runs"><tr><th>run</th><th>state</th><th>started (UTC)</th><th>duration</th><th>rows</th><th>rows/s</th></tr>
{% for r in runs|reverse %}<tr><td class="nowrap"><a href="/runs/{{ r.run_id }}">{{ r.run_id }}</a></td>
<td><span class="state state-{{ r.state }}">{{ r.state }}</span></td><td>{{ r.started_at[:19]|replace("T", " ") }}</td>
<td class="num">{{ r.duration_s|duration }}</td><td class="num">{{ "{:,}".format(r.rows) }}</td>
<td class="num">{{ "{:,.1f}".format(r.rows_per_s) }}</td></tr>{% endfor %}</table>{% endif %}
{% endblock %}
"""

ERROR = """{% extends "base.html" %}
{% block body %}<h1>{{ title }}</h1><p>{{ message }}</p>{% endblock %}
"""

TEMPLATES = {"base.html": BASE, "runs.html": RUNS, "run.html": RUN, "job.html": JOB, "error.html": ERROR}
