"""What the peers that compare cache entries with MSALLite's print: a cache's entries with
its secrets and times (which differ between any two runs) replaced by "*"."""
import json

TIMES = {"cached_at", "expires_on", "extended_expires_on", "refresh_on", "last_modification_time"}


def masked_entries(cache):
    entries = json.loads(cache.serialize())
    for section in entries.values():
        for entry in section.values():
            for name in entry:
                if name == "secret" or name in TIMES:
                    entry[name] = "*"
    return entries
