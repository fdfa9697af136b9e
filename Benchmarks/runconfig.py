"""A run directory's config.json for the Python twins: every key snake_case, as `attn` writes it (runs written by
earlier versions have camelCase keys in their model sections; `snake` converts them the way AttentionKit's SnakeCase
does: "dModel" -> "d_model", "bosID" -> "bos_id")."""
import json
import os


def snake(key):
    if not key or not key[0].islower() or not any(c.isupper() for c in key):
        return key
    out = ""
    for i, c in enumerate(key):
        if c.isupper() and i > 0:
            prev, nxt = key[i - 1], key[i + 1] if i + 1 < len(key) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out += "_"
        out += c.lower()
    return out


def snake_keys(value):
    if isinstance(value, dict):
        return {snake(k): snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_keys(v) for v in value]
    return value


def run_config(run):
    """config.json of the run directory `run`, keys snake_case."""
    with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
        return snake_keys(json.load(f))
