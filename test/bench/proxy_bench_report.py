"""The printed report of scripts/bench proxy: one Markdown table with a
column per proxy, the generator's ceiling, and issue 5's targets with the
measured ratios."""

# (figure key, value field, row label, unit, format)
ROWS = [
    ("imap_logins", "value", "IMAP logins/s (connect, LOGIN, LOGOUT)", "logins/s", "{:,.0f}"),
    ("imap_logins", "per_cpu_second", "IMAP logins per proxy CPU-second", "logins/CPU-s",
     "{:,.0f}"),
    ("imap_logins", "per_cpu_second_with_helper", "... counting nginx's auth service",
     "logins/CPU-s", "{:,.0f}"),
    ("pop3_logins", "value", "POP3 logins/s (connect, USER, PASS, QUIT)", "logins/s", "{:,.0f}"),
    ("pop3_logins", "per_cpu_second", "POP3 logins per proxy CPU-second", "logins/CPU-s",
     "{:,.0f}"),
    ("fetch", "value", "FETCH of a 10 MB message", "MB/s", "{:,.0f}"),
    ("fetch", "cpu_per_gb", "FETCH: proxy CPU per GB", "CPU-s/GB", "{:.2f}"),
    ("idle_kib", "value", "memory per idle IMAP connection", "KiB", "{:.1f}"),
    ("smtp", "value", "SMTP through the proxy (smtp-source)", "msgs/s", "{:,.0f}"),
    ("smtp", "cpu_ms_per_message", "SMTP: proxy CPU per message", "CPU-ms", "{:.2f}"),
]

# Issue 5's orientation figures (2 cores, the whole stack sharing them).
TARGET_PER_CPU = 6600
TARGET_VS_DOVECOT = 1.5
TARGET_VS_SOCAT = 0.9
TARGET_CPU_PER_GB = 0.30
TARGET_IDLE_KIB = 8.0


def _figure(results, system, key):
    return results.get(system, {}).get("figures", {}).get(key)


def _cell(results, system, key, field, fmt):
    r = results.get(system, {})
    if "error" in r or "skipped" in r:
        return "not run"
    f = _figure(results, system, key)
    if f is None:
        if key in r.get("figure_errors", {}):
            return "failed"
        return "n/a"
    v = f.get(field)
    if v is None:
        return "-"
    text = fmt.format(v)
    if f.get("errors"):
        n = f["errors"] if isinstance(f["errors"], int) else sum(f["errors"].values())
        if n:
            text += f" ({n:,} errors)"
    return text


def _check(label, value, target, fmt, higher_is_better=True):
    ok = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"- {label}: {fmt.format(value)} (target {sign} {fmt.format(target)}): " \
           f"{'met' if ok else 'NOT met'}"


def targets(results):
    lines = []
    imap = {s: _figure(results, s, "imap_logins") for s in ("dovecot", "nginx", "postern")}
    fetches = {s: _figure(results, s, "fetch") for s in ("socat", "postern", "nginx", "dovecot")}
    idle = _figure(results, "postern", "idle_kib")
    if imap["postern"] and imap["postern"]["per_cpu_second"]:
        lines.append(_check("postern IMAP logins per proxy CPU-second",
                            imap["postern"]["per_cpu_second"], TARGET_PER_CPU, "{:,.0f}"))
        if imap["nginx"] and imap["nginx"]["per_cpu_second"]:
            ratio = imap["postern"]["per_cpu_second"] / imap["nginx"]["per_cpu_second"]
            lines.append(f"  (x{ratio:.2f}"
                         " nginx's, auth service not counted; the issue asks for twice nginx)")
    if imap["postern"] and imap["dovecot"]:
        lines.append(_check("postern / Dovecot IMAP logins/s",
                            imap["postern"]["value"] / imap["dovecot"]["value"],
                            TARGET_VS_DOVECOT, "{:.2f}"))
    if fetches["postern"] and fetches["socat"]:
        lines.append(_check("postern / socat FETCH MB/s",
                            fetches["postern"]["value"] / fetches["socat"]["value"],
                            TARGET_VS_SOCAT, "{:.2f}"))
    if fetches["postern"]:
        lines.append(_check("postern FETCH CPU-s/GB", fetches["postern"]["cpu_per_gb"],
                            TARGET_CPU_PER_GB, "{:.2f}", higher_is_better=False))
    if idle and idle["value"] is not None:
        lines.append(_check("postern KiB per idle IMAP connection", idle["value"],
                            TARGET_IDLE_KIB, "{:.1f}", higher_is_better=False))
    if imap["nginx"] and imap["dovecot"]:
        lines.append(f"- for reference, nginx / Dovecot IMAP logins/s: "
                     f"{imap['nginx']['value'] / imap['dovecot']['value']:.2f}")
    return lines


def context(results, systems):
    lines = []
    for s in systems:
        r = results.get(s, {})
        if "error" in r or "skipped" in r:
            lines.append(f"- {s}: {(r.get('error') or r['skipped']).splitlines()[0]}")
            continue
        f = r.get("figures", {})
        parts = []
        if "imap_logins" in f:
            i = f["imap_logins"]
            helper = f", auth service {i['cpu']['helper']:.1f}" if i["cpu"]["helper"] else ""
            parts.append(f"IMAP login cycle p50 {i['latency_ms']['p50']:.1f} ms, p99 "
                         f"{i['latency_ms']['p99']:.1f} ms; CPU-s over the IMAP span: proxy "
                         f"{i['cpu']['proxy']:.1f}"
                         + helper
                         + f", nodes {i['cpu']['nodes']:.1f}, slapd {i['cpu']['slapd']:.1f}, "
                         f"loadgen {i['loadgen_cpu']:.1f}")
        if "fetch" in f:
            parts.append(f"FETCH: nodes {f['fetch']['nodes_cpu_per_gb']:.2f} CPU-s/GB")
        if "idle_kib" in f:
            d = f["idle_kib"]
            parts.append(f"{d['held']:,} of {d['wanted']:,} idle connections held, "
                         f"{d['still_open_at_end']} still open at the end")
        for key, err in r.get("figure_errors", {}).items():
            parts.append(f"{key} failed: {err.splitlines()[0][:300]}")
        lines.append(f"- {s} ({r.get('versions', '')}; load average before "
                     f"{r.get('load_average_before', [0])[0]:.2f}): " + "; ".join(parts))
    return lines


def print_report(results, systems, stub, nodes, args):
    head = ["figure", "unit"] + list(systems)
    print("| " + " | ".join(head) + " |")
    print("| --- | --- |" + " ---: |" * len(systems))
    for key, field, label, unit, fmt in ROWS:
        if field == "per_cpu_second_with_helper" and "nginx" not in systems:
            continue
        if label.startswith("IMAP logins/s"):
            label = f"IMAP logins/s ({args.clients} clients, {args.users} users)"
        if label.startswith("memory"):
            label = f"memory per idle IMAP connection ({args.idle:,} held)"
        cells = [_cell(results, s, key, field, fmt) for s in systems]
        print("| " + " | ".join([label, unit] + cells) + " |")
    if stub:
        print(f"\nLoad generator ceiling against its instant-reply stub ({args.clients} clients, "
              f"{args.loadgen_threads} thread): {stub['imap']['value']:,.0f} IMAP logins/s "
              f"({stub['imap']['loadgen_cpu_us_per_login']:.0f} µs of its CPU per login), "
              f"{stub['pop3']['value']:,.0f} POP3 logins/s.")
    if nodes:
        print(f"The two nodes without a proxy ({args.clients} clients split between them, each "
              f"user at its own node): {nodes['value']:,.0f} IMAP logins/s, "
              f"{nodes['node_cpu_ms_per_login']:.2f} node CPU-ms per login.")
    print("Proxy CPU = user+system seconds of every process of the proxy (Dovecot: master, "
          "login, auth and helper processes; nginx: master and workers, its Python auth_http "
          "service apart; Postern: its one process, directory client included). Dovecot has no "
          "SMTP proxy here (n/a). Memory = the proxy's summed RSS with the connections held "
          "minus before, per connection. nginx-64k: nginx with proxy_buffer 64k, FETCH only. "
          "socat: -b 65536 (64 KiB blocks), fork per connection.")
    print("\nTargets (issue 5):")
    for line in targets(results) or ["- postern not measured: no ratios"]:
        print(line)
    print("\nContext:")
    for line in context(results, systems):
        print(line)
