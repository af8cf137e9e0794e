"""The benchmarks' tables and plots, from the JSON lines Benchmarks/run.sh, postgres.sh,
silent.sh, refresh.sh and callgrind.sh write (one line per size, or per number of processes).

Usage: python report.py run RESULTS        print run.sh's tables
       python report.py postgres RESULTS   print postgres.sh's table
       python report.py silent RESULTS     print silent.sh's table
       python report.py refresh RESULTS    print refresh.sh's table
       python report.py callgrind RESULTS  print callgrind.sh's table
       python report.py machine STARTED SECONDS   the machine, date and versions (JSON), for doc
       python report.py doc FOLDER MARKDOWN       write MARKDOWN (docs/benchmarks.md) from
                                                  FOLDER/{machine.json,run.jsonl,postgres.jsonl,
                                                  silent.jsonl,refresh.jsonl,callgrind.jsonl}, its plots next to it in a
                                                  folder of its name (docs/benchmarks/*.png)

Only doc needs matplotlib (Benchmarks/requirements.txt); the tables need the standard library.
Every ratio is the peer's time divided by ours: how many times faster this library is.
"""
import json
import os
import platform
import subprocess
import sys


def load(path):
    """The JSON lines of one script's results (none if the file is missing or empty)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def t(seconds):
    if seconds >= 1:
        return "%.2f s" % seconds
    if seconds >= 1e-3:
        return "%.1f ms" % (seconds * 1e3)
    return "%.2f µs" % (seconds * 1e6)


def us(seconds):
    return "%.1f µs" % (seconds * 1e6)


def ms(seconds):
    return "%.2f ms" % (seconds * 1e3)


def mb(n):
    return "%.1f MB" % (n / 1e6)


def short(seconds):
    """Three significant digits, for the plots' labels: "685 µs", "39.4 ms", "2.34 s"."""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale or unit == "µs":
            return "%.3g %s" % (seconds / scale, unit)


def ratio(theirs, ours):
    """How many times ours is faster: "434×", "2.6×"."""
    if not ours:
        return "–"
    value = theirs / ours
    return ("%.0f×" if value >= 10 else "%.1f×") % value


def users(n):
    return f"{n:,}"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), platform.machine())
    except OSError:
        return platform.machine()


def version(package):
    try:
        from importlib.metadata import version as installed
        return installed(package)
    except Exception:  # noqa: BLE001 - the tables still print without the peers
        return "?"


def machine_line():
    return "Measured on %s, %d cores, %s; MSAL Python %s." % (cpu_model(), os.cpu_count(), platform.platform(terse=True), version("msal"))


# ---------------------------------------------------------------------------------------------
# run.sh: lookups, serialization and memory; the file store against msal-extensions; the
# encrypted and keyring stores; the SQLite store.

LOOKUP_NOTE = ("Lookup: median of 400 batches of 256 silent lookups of random users (ours, p99 of batches: %s at the largest "
               "size); MSAL Python: median of its own acquire_token_silent(). Accounts: ours keeps its answer until the Account "
               "section changes, so asking again is one comparison; the first call after loading passes over the section, "
               "as each of MSAL Python's get_accounts() calls does.")
PERSISTENT_INTRO = ("Through the file store, shared with msal-extensions %s (FilePersistence + PersistedTokenCache) on copies "
                    "of the same file:")
PERSISTENT_NOTE = ("Ours: a locked write saves once, atomically (temporary file, fsync, rename); a hit checks the file's change "
                   "token and looks up in memory, asking for a strict subset of the stored scopes. msal-extensions: add() "
                   "rewrites the file five times; its hit is its best case, the exact stored scopes (a subset makes it scan "
                   "every token).")
STORES_INTRO = ("Stores, same run: load (read and parse) and save (serialize and write) through the plain file, the encrypted "
                "file (AES-256-GCM, key file; a passphrase costs one scrypt per process on top), an unchanged hit and one "
                "token response written (lock, check, add, one save) through each, and through the keyring (msal-extensions "
                "profile, private gnome-keyring):")
STORES_NOTE = "A keyring item travels in one D-Bus message, so the keyring columns stop at 1,000 users."
SOURCES_INTRO = ("The encrypted file by where its data key is: a key file, the kernel keyring (`?key=kernel`, the default where "
                 "no Secret Service answers) and the Secret Service (`?key=keyring`, private gnome-keyring). A new process's "
                 "open and first lookup (median of three processes), and one token response written:")
SQLITE_INTRO = ("The SQLite store (sqlite:PATH), plain and encrypted (per-row AES-256-GCM, key file), imported from the same "
                "cache; the file store and msal-extensions measured in the same run where they still run:")
SQLITE_NOTE = ("Lookup: median of 200 batches of 64 silent lookups of random users, through SQLiteTokenCache (indexed queries, "
               "no cache in memory). Written: median of 40 new users' sign-ins, each one transaction flushed to disk "
               "(synchronous=FULL). After a write: another connection adds a token, then this one looks up (median of 40). "
               "First lookup: inside a fresh process, from opening the store to the answer.")


def run_tables(every, extensions_version):
    """run.sh's tables, as lines of Markdown."""
    rows = [r for r in every if not r.get("sqlite_only")]
    out = []
    if rows:
        out += ["| users | file | lookup (ours / MSAL Python) | ratio | accounts | ratio | accounts, first call after loading | ratio | deserialize | ratio | serialize | ratio | peak memory loading (× file) |",
                "|---:|---:|---|---:|---|---:|---|---:|---|---:|---|---:|---|"]
        for r in rows:
            o, m = r["ours"], r["msal"]
            size = r["ours_memory"]["file_bytes"]
            cells = []
            for key in ("lookup_median_s", "accounts_s", "accounts_first_s", "deserialize_s", "serialize_s"):
                if key == "accounts_first_s":
                    # MSAL Python keeps no answer: each of its calls is a first call.
                    first = o.get(key)
                    cells += ["%s / %s" % (t(first), t(m["accounts_s"])), ratio(m["accounts_s"], first)] if first else ["–", "–"]
                    continue
                cells += ["%s / %s" % (t(o[key]), t(m[key])), ratio(m[key], o[key])]
            memory = "%s (%.2f×) / %s (%.2f×)" % (mb(r["ours_memory"]["peak_bytes"]), r["ours_memory"]["peak_bytes"] / size,
                                                 mb(r["msal_memory"]["peak_bytes"]), r["msal_memory"]["peak_bytes"] / size)
            if size < 5e6:
                memory = "– (below the processes' own noise)"
            out.append("| %s | %s | %s | %s |" % (users(r["users"]), mb(size), " | ".join(cells), memory))
        out += ["", LOOKUP_NOTE % t(rows[-1]["ours"]["lookup_p99_s"])]
    persistent = [r for r in rows if r.get("persistent_ours")]
    if persistent:
        out += ["", PERSISTENT_INTRO % extensions_version, "",
                "| users | one token response written | ratio | cache hit, nothing changed | ratio | reload after another process's write | ratio |",
                "|---:|---|---:|---|---:|---|---:|"]
        for r in persistent:
            o, m = r["persistent_ours"], r["persistent_msal"]
            cells = []
            for key in ("write_median_s", "hit_median_s", "reload_median_s"):
                cells += ["%s / %s" % (t(o[key]), t(m[key])), "%.1f×" % (m[key] / o[key])]
            out.append("| %s | %s |" % (users(r["users"]), " | ".join(cells)))
        out += ["", PERSISTENT_NOTE]
    stores = [r for r in rows if r.get("stores")]
    if stores:
        out += ["", STORES_INTRO, "",
                "| users | load plain / encrypted | ratio | save plain / encrypted | ratio | unchanged hit: plain / encrypted / keyring | one token response written: plain / encrypted / keyring |",
                "|---:|---|---:|---|---:|---|---|"]
        for r in stores:
            st = r["stores"]
            keyring = lambda key: t(st[key]) if key in st else "–"  # noqa: E731
            write = "%s / %s / %s" % (t(st["plain_write_s"]), t(st["encrypted_write_s"]), keyring("keyring_write_s")) if "plain_write_s" in st else "–"
            out.append("| %s | %s / %s | %.2f× | %s / %s | %.2f× | %s / %s / %s | %s |" % (
                users(r["users"]), t(st["plain_load_s"]), t(st["encrypted_load_s"]), st["encrypted_load_s"] / st["plain_load_s"],
                t(st["plain_save_s"]), t(st["encrypted_save_s"]), st["encrypted_save_s"] / st["plain_save_s"],
                t(st["plain_hit_s"]), t(st["encrypted_hit_s"]), keyring("keyring_hit_s"), write))
        out += ["", STORES_NOTE]
        keyed = [r for r in stores if "encrypted_kernel_write_s" in r["stores"]]
        if keyed:
            out += ["", SOURCES_INTRO, "",
                    "| users | new process, open and first lookup: key file / kernel / Secret Service | one token response written: key file / kernel / Secret Service |",
                    "|---:|---|---|"]
            for r in keyed:
                st = r["stores"]
                cell = lambda kind: " / ".join(t(st["encrypted_%s_%s_s" % (name, kind)]) if "encrypted_%s_%s_s" % (name, kind) in st else "–"  # noqa: E731
                                               for name in ("keyfile", "kernel", "keyring"))
                out.append("| %s | %s | %s |" % (users(r["users"]), cell("first"), cell("write")))
    sqlite = [r for r in every if r.get("sqlite")]
    if sqlite:
        out += ["", SQLITE_INTRO, "",
                "| users | database (per user) | lookup plain / encrypted | one token response written: SQLite plain / encrypted / file store / msal-extensions | lookup right after another process's write | new process, open and first lookup: SQLite plain / encrypted / file store / msal-extensions |",
                "|---:|---|---|---|---|---|"]
        for r in sqlite:
            sq = r["sqlite"]
            p = sq["plain"]
            size = "%s (%.1f KB)" % (mb(p["db_bytes"]), p["db_bytes"] / r["users"] / 1e3)
            if r.get("sqlite_only"):
                out.append("| %s | %s | %s / – | %s / – / – / – | %s | %s / – / – / – |" % (
                    users(r["users"]), size, t(p["lookup_median_s"]), t(p["write_median_s"]),
                    t(p["after_write_median_s"]), t(sq["first"]["first_lookup_s"])))
                continue
            e = sq["sealed"]
            po, pm = r.get("persistent_ours"), r.get("persistent_msal")
            out.append("| %s | %s | %s / %s | %s / %s / %s / %s | %s / %s | %s / %s / %s / %s |" % (
                users(r["users"]), size, t(p["lookup_median_s"]), t(e["lookup_median_s"]),
                t(p["write_median_s"]), t(e["write_median_s"]), t(po["write_median_s"]) if po else "–",
                t(pm["write_median_s"]) if pm else "–",
                t(p["after_write_median_s"]), t(e["after_write_median_s"]),
                t(sq["first"]["first_lookup_s"]), t(sq["first_sealed"]["first_lookup_s"]),
                t(sq["first_file"]["first_lookup_s"]), t(sq["first_msal"]["first_lookup_s"])))
        out += ["", SQLITE_NOTE]
    return out


# ---------------------------------------------------------------------------------------------
# postgres.sh and silent.sh

POSTGRES_NOTE = ("Lookup: median of 40 batches of 64 silent lookups of random users through a store without the L1 (one "
                 "indexed query of the user's partition), then of 200 batches answered by a warm L1. Written: median of 60 "
                 "new users' sign-ins, each one statement committed and flushed to disk (`synchronous_commit` on). "
                 "4 writers: four instances, each with its own connection, writing new sign-ins for 3 seconds. SQLite: the "
                 "SQLite store written directly with the same users, in the same run.")
SILENT_NOTE = ("Ours: median and p99 of 200 batches of 256 calls on random users through a `PublicClientApplication` (no "
               "network), asking for a strict subset of the stored scopes; MSAL Python: median of 20 acquire_token_silent() "
               "calls.")


def postgres_table(rows):
    out = ["| users | lookup, no L1 (median / p99) | lookup, warm L1 (median / p99) | one token response written (median / p99) | 4 writers | SQLite lookup | SQLite write | import | size on the server |",
           "|---:|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p, s = r["postgres"], r["sqlite"]
        out.append(f"| {users(r['users'])} | {us(p['lookup_median_s'])} / {us(p['lookup_p99_s'])} | {us(p['l1_lookup_median_s'])} / {us(p['l1_lookup_p99_s'])} | "
                   f"{ms(p['write_median_s'])} / {ms(p['write_p99_s'])} | {p['writers4_per_s']:,.0f} responses/s | {us(s['lookup_median_s'])} | "
                   f"{ms(s['write_median_s'])} | {r['postgres_import']['import_s']:.1f} s | {p['db_bytes'] / 1e6:,.0f} MB |")
    return out + ["", POSTGRES_NOTE]


def silent_table(rows):
    out = ["| users | in memory: ours median / p99 | MSAL Python | ratio | file store: ours median / p99 | msal-extensions | ratio |",
           "|---:|---|---|---:|---|---|---:|"]
    for r in rows:
        o, m = r["ours"], r["msal"]
        out.append("| %s | %s / %s | %s | %s | %s / %s | %s | %s |" % (
            users(r["users"]), t(o["memory_median_s"]), t(o["memory_p99_s"]), t(m["memory_median_s"]),
            ratio(m["memory_median_s"], o["memory_median_s"]),
            t(o["file_median_s"]), t(o["file_p99_s"]), t(m["file_median_s"]), ratio(m["file_median_s"], o["file_median_s"])))
    return out + ["", SILENT_NOTE]


# ---------------------------------------------------------------------------------------------
# refresh.sh: N processes at once refreshing one expired access token.

REFRESH_CLIENTS = (("ours_file", "ours (`file:`)"), ("ours_sqlite", "ours (`sqlite:`)"),
                   ("msal", "MSAL Python + msal-extensions (file)"))
REFRESH_NOTE = ("All N processes are started together and ask for the same user's access token (same client, same scopes), "
                "which expires in 120 s, inside MSAL's 5-minute margin: each must refresh, unless another process's new "
                "token is already in the store. Before each case the user signs in afresh (MSAL Python's password flow "
                "through msal-extensions; the `sqlite:` store is a `tokencache copy` of that file). Refresh requests: "
                "requests with grant_type refresh_token that reached the identity server (`Tests/IdentityServer`; TLS for "
                "MSAL Python, loopback http for ours). Times run from one common start, a barrier all N processes wait on, "
                "to the token in hand, over the processes that got one; every process is killed after 60 s. Ours: until "
                "`tokencache token` exits with its token, the executable's start-up included. MSAL Python: until "
                "`acquire_token_silent` returns, read inside the process; the interpreter's start-up and the imports of "
                "msal and msal_extensions happen before the barrier, with all N starting at once, and are not included "
                "(their median is the last column). p99 is the nearest rank: up to 100 processes, the slowest one, as max. "
                "Every process has its token: the slowest process's time, when all N got one.")


def exits(case):
    """"7 of 10 (exit 3: 3)": the processes that exited 0, and the others by exit code."""
    others = ", ".join("exit %s: %d" % (code, count) for code, count in sorted(case["exit_codes"].items()) if code != "0")
    return "%d of %d%s" % (case["exited_0"], case["processes"], " (%s)" % others if others else "")


def maybe(seconds):
    return t(seconds) if seconds is not None else "–"


def refresh_table(rows):
    out = ["| processes | client and store | refresh requests at the server | exited 0 | time to the token: median / p99 / max | every process has its token | process start-up |",
           "|---:|---|---:|---|---|---|---|"]
    for r in rows:
        for key, label in REFRESH_CLIENTS:
            c = r.get(key)
            if not c:
                continue
            failed = c["processes"] - c["exited_0"]
            every = t(c["all_s"]) if c["all_s"] is not None else "no: %d without a token" % failed
            startup = "not included: %s median" % t(c["startup_median_s"]) if "startup_median_s" in c else "included"
            out.append("| %d | %s | %d | %s | %s / %s / %s | %s | %s |" % (
                r["processes"], label, c["refresh_requests"], exits(c), maybe(c["median_s"]), maybe(c["p99_s"]),
                maybe(c["max_s"]), every, startup))
    return out + ["", REFRESH_NOTE]


def refresh_summary(rows):
    """One sentence per number of processes: the requests each client sent, and who got a token."""
    out = []
    for r in rows:
        cases = [(label, r[key]) for key, label in REFRESH_CLIENTS if r.get(key)]
        out.append("- %d process%s at once: %s." % (r["processes"], "" if r["processes"] == 1 else "es", "; ".join(
            "%s sent %d refresh request%s and %d of %d got a token" % (label, c["refresh_requests"], "" if c["refresh_requests"] == 1 else "s",
                                                                    c["exited_0"], c["processes"]) for label, c in cases)))
    return out


# ---------------------------------------------------------------------------------------------
# The report: docs/benchmarks.md and its plots.

def write_costs(run, postgres):
    """One token response written, per store and size: {store: {users: seconds}}."""
    costs = {name: {} for name in ("file store", "encrypted file", "keyring", "SQLite", "SQLite encrypted", "PostgreSQL", "msal-extensions")}
    for r in run:
        n = r["users"]
        if r.get("persistent_ours"):
            costs["file store"][n] = r["persistent_ours"]["write_median_s"]
            costs["msal-extensions"][n] = r["persistent_msal"]["write_median_s"]
        st = r.get("stores") or {}
        if "encrypted_write_s" in st:
            costs["encrypted file"][n] = st["encrypted_write_s"]
        if "keyring_write_s" in st:
            costs["keyring"][n] = st["keyring_write_s"]
        sq = r.get("sqlite")
        if sq:
            costs["SQLite"][n] = sq["plain"]["write_median_s"]
            if "sealed" in sq:
                costs["SQLite encrypted"][n] = sq["sealed"]["write_median_s"]
    for r in postgres:
        costs["PostgreSQL"][r["users"]] = r["postgres"]["write_median_s"]
    return {name: sizes for name, sizes in costs.items() if sizes}


def seconds_label(value, _position=None):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if value >= scale * 0.999:
            number = value / scale
            return ("%.0f %s" if number >= 1 and abs(number - round(number)) < 1e-6 else "%g %s") % (number, unit)
    return "%g s" % value


def plot_lookup(run, postgres, path):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    rows = [r for r in run if not r.get("sqlite_only")]
    every = [r for r in run if r.get("sqlite")]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)

    def line(axes, points, label, **style):
        points = sorted(points)
        if points:
            axes.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=2, markersize=7, **style)

    ours = "tab:blue"
    sqlite = "tab:green"
    peer = "tab:red"
    line(left, [(r["users"], r["ours"]["lookup_median_s"]) for r in rows], "ours, in memory (TokenCache)", color=ours, marker="o")
    line(left, [(r["users"], r["sqlite"]["plain"]["lookup_median_s"]) for r in every], "ours, SQLite store", color=sqlite, marker="s")
    line(left, [(r["users"], r["sqlite"]["sealed"]["lookup_median_s"]) for r in every if "sealed" in r["sqlite"]],
         "ours, SQLite store, encrypted", color=sqlite, marker="s", linestyle="--", markerfacecolor="white")
    line(left, [(r["users"], r["postgres"]["lookup_median_s"]) for r in postgres], "ours, PostgreSQL store (no L1)",
         color="tab:purple", marker="D")
    line(left, [(r["users"], r["postgres"]["l1_lookup_median_s"]) for r in postgres], "ours, PostgreSQL store (warm L1)",
         color="tab:purple", marker="D", linestyle="--", markerfacecolor="white")
    line(left, [(r["users"], r["msal"]["lookup_median_s"]) for r in rows], "MSAL Python acquire_token_silent (in memory)",
         color=peer, marker="^")
    for r in rows:
        left.annotate(ratio(r["msal"]["lookup_median_s"], r["ours"]["lookup_median_s"]),
                      (r["users"], r["msal"]["lookup_median_s"]), textcoords="offset points", xytext=(0, 9),
                      ha="center", fontsize=9, color=peer)
    left.set_title("Lookup in a running process (median)")

    firsts = [r for r in every if "first_file" in r["sqlite"]]
    line(right, [(r["users"], r["sqlite"]["first"]["first_lookup_s"]) for r in every], "ours, SQLite store",
         color=sqlite, marker="s")
    line(right, [(r["users"], r["sqlite"]["first_sealed"]["first_lookup_s"]) for r in firsts], "ours, SQLite store, encrypted",
         color=sqlite, marker="s", linestyle="--", markerfacecolor="white")
    line(right, [(r["users"], r["sqlite"]["first_file"]["first_lookup_s"]) for r in firsts], "ours, file store",
         color=ours, marker="o")
    line(right, [(r["users"], r["sqlite"]["first_msal"]["first_lookup_s"]) for r in firsts], "msal-extensions (file)",
         color=peer, marker="^")
    right.set_title("New process: open the store, first lookup" + (" (from %s users on)" % users(every[0]["users"]) if every else ""))

    sizes = sorted({r["users"] for r in run} | {r["users"] for r in postgres})
    for axes in (left, right):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("cache size (users, log scale)")
        axes.set_xticks(sizes)
        axes.set_xticklabels([users(n) for n in sizes])
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlim(sizes[0] / 2.5, sizes[-1] * 2.5)
        axes.yaxis.set_major_locator(LogLocator(base=10))
        axes.yaxis.set_major_formatter(FuncFormatter(seconds_label))
        axes.grid(True, which="major", alpha=0.35)
        axes.grid(True, which="minor", axis="y", alpha=0.12)
        axes.legend(fontsize=8.5, loc="upper left")
    left.set_ylabel("time per lookup (log scale)")
    low, high = left.get_ylim()
    left.set_ylim(low, high * 3)
    figure.suptitle("Silent lookup latency against cache size (lower is better; red figures: MSAL Python's time ÷ ours)",
                    fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def grouped_bars(axes, groups, series, colors):
    """Bars of series {label: {group: seconds}} for each group, labelled with their value."""
    from matplotlib.transforms import blended_transform_factory
    width = 0.8 / max(1, len(series))
    bottom = blended_transform_factory(axes.transData, axes.transAxes)
    for index, (label, values) in enumerate(series.items()):
        offset = (index - (len(series) - 1) / 2) * width
        xs = [g + offset for g, name in enumerate(groups) if name in values]
        ys = [values[name] for name in groups if name in values]
        bars = axes.bar(xs, ys, width * 0.92, label=label, color=colors[index % len(colors)])
        for bar, value in zip(bars, ys):
            axes.annotate(short(value), (bar.get_x() + bar.get_width() / 2, value), textcoords="offset points", xytext=(0, 3),
                          ha="center", va="bottom", fontsize=7.5, rotation=90)
        for g, name in enumerate(groups):
            if name not in values:
                axes.text(g + offset, 0.02, "not measured", transform=bottom, ha="center", va="bottom", fontsize=7,
                          rotation=90, color="gray")


def log_seconds_axis(axes, label):
    from matplotlib.ticker import FuncFormatter, LogLocator
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(base=10))
    axes.yaxis.set_major_formatter(FuncFormatter(seconds_label))
    axes.set_ylabel(label)
    axes.grid(True, axis="y", which="major", alpha=0.35)
    low, high = axes.get_ylim()
    axes.set_ylim(low, high * 8)


def plot_write(costs, path):
    import matplotlib.pyplot as plt
    stores = list(costs)
    sizes = sorted({n for values in costs.values() for n in values})
    by_size = {"%s users" % users(n): {store: costs[store][n] for store in stores if n in costs[store]} for n in sizes}
    figure, axes = plt.subplots(figsize=(11, 5.4))
    grouped_bars(axes, stores, by_size, ["tab:cyan", "tab:blue", "navy", "black"])
    axes.set_xticks(range(len(stores)))
    axes.set_xticklabels(stores)
    for label in axes.get_xticklabels():
        if label.get_text() == "msal-extensions":
            label.set_color("tab:red")
    log_seconds_axis(axes, "time per write (log scale)")
    axes.set_xlabel("store (msal-extensions: MSAL Python's file cache, on a copy of the same file)")
    axes.set_title("One token response written (a new user's sign-in), median; lower is better")
    axes.legend(title="cache size", fontsize=9, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_silent(silent, path):
    import matplotlib.pyplot as plt
    groups = ["%s users" % users(r["users"]) for r in silent]
    series = {
        "ours, in memory": {g: r["ours"]["memory_median_s"] for g, r in zip(groups, silent)},
        "MSAL Python, in memory": {g: r["msal"]["memory_median_s"] for g, r in zip(groups, silent)},
        "ours, file store": {g: r["ours"]["file_median_s"] for g, r in zip(groups, silent)},
        "MSAL Python + msal-extensions (file)": {g: r["msal"]["file_median_s"] for g, r in zip(groups, silent)},
    }
    figure, axes = plt.subplots(figsize=(9, 5))
    grouped_bars(axes, groups, series, ["tab:blue", "tab:red", "tab:cyan", "salmon"])
    axes.set_xticks(range(len(groups)))
    axes.set_xticklabels(groups)
    log_seconds_axis(axes, "time per call (log scale)")
    axes.set_xlabel("cache size")
    axes.set_title("acquireTokenSilent served from the cache, median; lower is better")
    axes.legend(fontsize=9, loc="upper left", ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def machine(started, elapsed):
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "Sources", "Package.swift", "Benchmarks/TokenCacheBenchmarks"]).returncode != 0
    return {"started": started, "seconds": int(elapsed), "cpu": cpu_model(), "cores": os.cpu_count(),
            "platform": platform.platform(terse=True), "swift": swift[0] if swift else "?", "commit": commit,
            "uncommitted_changes": dirty, "msal": version("msal"), "msal_extensions": version("msal-extensions"),
            "matplotlib": version("matplotlib")}


def summary(run, postgres, costs):
    rows = [r for r in run if not r.get("sqlite_only")]
    out = ["Silent lookup (ours in memory, from the first table below; MSAL Python's `acquire_token_silent()` on the same cache):", "",
           "| users | ours, in memory | MSAL Python | ratio | ours, SQLite store | ratio |", "|---:|---|---|---:|---|---:|"]
    for r in rows:
        sq = r.get("sqlite")
        lite = sq["plain"]["lookup_median_s"] if sq else None
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            users(r["users"]), t(r["ours"]["lookup_median_s"]), t(r["msal"]["lookup_median_s"]),
            ratio(r["msal"]["lookup_median_s"], r["ours"]["lookup_median_s"]),
            t(lite) if lite else "–", ratio(r["msal"]["lookup_median_s"], lite) if lite else "–"))
    sizes = sorted({n for values in costs.values() for n in values})
    if sizes:
        stores = [s for s in costs if s != "msal-extensions"]
        out += ["", "One token response written, per store (median); ratio: msal-extensions' time ÷ the store's:", "",
                "| users | " + " | ".join(stores) + " | msal-extensions |", "|---:|" + "---|" * (len(stores) + 1)]
        theirs = costs.get("msal-extensions", {})
        for n in sizes:
            cells = []
            for store in stores:
                value = costs[store].get(n)
                if value is None:
                    cells.append("–")
                elif n in theirs:
                    cells.append("%s (%s)" % (t(value), ratio(theirs[n], value)))
                else:
                    cells.append(t(value))
            cells.append(t(theirs[n]) if n in theirs else "–")
            out.append("| %s | %s |" % (users(n), " | ".join(cells)))
    return out


def callgrind_table(rows):
    """Instruction counts of load, lookup and reload (callgrind.sh)."""
    out = ["| users | load (read and parse) | one silent lookup | reload after one response written elsewhere | commit |",
           "|---:|---:|---:|---:|---|"]
    for row in rows:
        out.append("| %s | %.1f M | %s | %.1f M | %s |" % (
            users(row["users"]), row["load_instructions"] / 1e6, "{:,}".format(row["lookup_instructions"]),
            row["reload_instructions"] / 1e6, row.get("commit", "")))
    return out


def doc(folder, markdown):
    import matplotlib
    matplotlib.use("Agg")
    meta = json.load(open(os.path.join(folder, "machine.json"), encoding="utf-8"))
    run = load(os.path.join(folder, "run.jsonl"))
    postgres = load(os.path.join(folder, "postgres.jsonl"))
    silent = load(os.path.join(folder, "silent.jsonl"))
    refresh = load(os.path.join(folder, "refresh.jsonl"))
    callgrind = load(os.path.join(folder, "callgrind.jsonl"))
    images = os.path.splitext(markdown)[0]
    os.makedirs(images, exist_ok=True)
    link = os.path.basename(images)
    costs = write_costs(run, postgres)
    plots = []
    if run:
        plot_lookup(run, postgres, os.path.join(images, "lookup.png"))
        plots.append(("lookup.png", "Silent lookup latency against cache size, ours and MSAL Python"))
    if costs:
        plot_write(costs, os.path.join(images, "write.png"))
        plots.append(("write.png", "One token response written, per store, ours and msal-extensions"))
    if silent:
        plot_silent(silent, os.path.join(images, "silent.png"))
    run_sizes = [users(r["users"]) + (" (SQLite only)" if r.get("sqlite_only") else "") for r in run]
    minutes = max(1, round(meta["seconds"] / 60))
    duration = "%d minute%s" % (minutes, "" if minutes == 1 else "s")
    code = "commit %s%s" % (meta["commit"], " with uncommitted changes" if meta["uncommitted_changes"] else "")
    out = ["# Benchmarks", "",
           "Written by `Benchmarks/report.sh` on %s (%s), on %s, %d cores, %s; %s; the harness built in release "
           "mode from %s. Peers: MSAL Python %s and msal-extensions %s, measured in the same run on the same files." % (
               meta["started"], duration, meta["cpu"], meta["cores"], meta["platform"], meta["swift"], code,
               meta["msal"], meta["msal_extensions"]),
           "",
           "Sizes: %s users (`Benchmarks/run.sh`); PostgreSQL at %s (`Benchmarks/postgres.sh`); acquireTokenSilent at %s "
           "(`Benchmarks/silent.sh`); %s processes refreshing at once (`Benchmarks/refresh.sh`). Each cache holds, per user, an account, an ID token, a refresh token and three "
           "~1.5 KB access tokens (about 10.8 KB of JSON). Lookups ask for a strict subset of the stored scopes. A ratio "
           "is the peer's time divided by ours: how many times faster this library is. The machine is shared: timings "
           "drift by tens of percent between runs, and the writes, each flushed to disk, move with the other disk "
           "traffic of the machine; the ratios, measured side by side, hold better." % (
               ", ".join(run_sizes) or "none", ", ".join(users(r["users"]) for r in postgres) or "none",
               ", ".join(users(r["users"]) for r in silent) or "none",
               ", ".join(str(r["processes"]) for r in refresh) or "no"),
           ""]
    for name, alt in plots:
        out += ["![%s](%s/%s)" % (alt, link, name), ""]
    out += ["## Summary", ""] + summary(run, postgres, costs) + [""]
    if run:
        out += ["## Lookup, serialization and memory; the file, encrypted, keyring and SQLite stores", "",
                "`Benchmarks/run.sh` writes each size's cache once and measures this library and MSAL Python on the "
                "same file. From 1,000 users on, it also imports each cache into the SQLite store, plain and encrypted. "
                "Lookups ask for a strict subset of the stored scopes; MSAL Python's figure is its own "
                "`acquire_token_silent()`.", ""]
        out += run_tables(run, meta["msal_extensions"]) + [""]
    if postgres:
        out += ["## PostgreSQL", "",
                "`Benchmarks/postgres.sh`: a private PostgreSQL cluster from Debian's packages on loopback "
                "(`shared_buffers` 2 GB), with the SQLite store on the same users in the same run:", ""]
        out += postgres_table(postgres) + [""]
    if silent:
        out += ["## acquireTokenSilent", "",
                "`MSALLite`'s `acquireTokenSilent` served from the cache (`Benchmarks/silent.sh`: a cache of the same "
                "shape with its tokens cached at the current time, since both libraries read the real clock; MSALLite's "
                "run has no network at all), against MSAL Python's `acquire_token_silent` on the same file, in memory "
                "and through the file store (msal-extensions for MSAL Python):", "",
                "![acquireTokenSilent, ours and MSAL Python](%s/silent.png)" % link, ""]
        out += silent_table(silent) + [""]
    if refresh:
        out += ["## Many processes refreshing one expired token", "",
                "`Benchmarks/refresh.sh`: N processes started together, for one signed-in user whose access token has "
                "expired, against the local identity server. It shows whether the processes share one refresh (the goal "
                "for ours: one request to the identity server at any N, every process served) or each send their own, and "
                "how long the last process waits for its token.%s" % (
                    " Measured on %s." % refresh[0]["measured"] if refresh[0].get("measured") else ""), ""]
        out += refresh_summary(refresh) + [""]
        out += refresh_table(refresh) + [""]
    if callgrind:
        out += ["## Instruction counts", "",
                "`Benchmarks/callgrind.sh`: valgrind's callgrind counts the instructions of loading the cache file, "
                "of one silent lookup and of a reload after another process added one token response. Unlike the "
                "timings above they repeat from run to run on this shared machine, so a change that makes one grow is "
                "a regression whatever the clock says. Each figure is the difference of two whole processes, so "
                "process start-up cancels out.", ""]
        out += callgrind_table(callgrind) + [""]
    out += ["## Reproducing", "",
            "`Benchmarks/report.sh [USERS ...]` (default `1 100 1000 10000`) runs the scripts above and writes "
            "this page, its plots (matplotlib %s, from `Benchmarks/requirements.txt`) and the raw results "
            "(`%s/*.jsonl`, one JSON line per size). PostgreSQL runs at the sizes from 10,000 users on, "
            "acquireTokenSilent at those from 1,000 on, unless `TOKENCACHE_BENCH_POSTGRES_USERS` or "
            "`TOKENCACHE_BENCH_SILENT_USERS` name others; the refresh runs at 1, 10 and 50 processes, unless "
            "`TOKENCACHE_BENCH_REFRESH_PROCESSES` names others; the instruction counts at 1,000 users, unless "
            "`TOKENCACHE_BENCH_CALLGRIND_USERS` names others. `.venv/bin/python Benchmarks/report.py doc %s %s` rewrites "
            "the page from the raw results." % (meta["matplotlib"], "docs/" + link, "docs/" + link, "docs/" + link + ".md"), ""]
    with open(markdown, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out))


def main(argv):
    command = argv[1] if len(argv) > 1 else ""
    if command == "run":
        print(machine_line())
        print()
        print("\n".join(run_tables(load(argv[2]), version("msal-extensions"))))
    elif command == "postgres":
        print()
        print("\n".join(postgres_table(load(argv[2]))))
    elif command == "silent":
        print("acquireTokenSilent served from the cache, asking for a strict subset of the stored scopes. Measured on %s, %d cores." % (cpu_model(), os.cpu_count()))
        print()
        print("\n".join(silent_table(load(argv[2]))))
    elif command == "refresh":
        rows = load(argv[2])
        print("N processes at once refreshing one expired access token. Measured on %s, %d cores; MSAL Python %s, msal-extensions %s." % (
            cpu_model(), os.cpu_count(), version("msal"), version("msal-extensions")))
        print()
        print("\n".join(refresh_summary(rows)))
        print()
        print("\n".join(refresh_table(rows)))
    elif command == "callgrind":
        print("\n".join(callgrind_table(load(argv[2]))))
    elif command == "machine":
        print(json.dumps(machine(argv[2], float(argv[3]))))
    elif command == "doc":
        doc(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
