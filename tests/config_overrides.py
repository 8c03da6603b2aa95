"""Setting dotted config keys in tests, as `--config.a.b=value` flags do on the command line."""


def with_overrides(config, **overrides):
    """Returns `config` after `config.a.b = value` for every `**{"a.b": value}` given."""
    for key, value in overrides.items():
        node = config
        *path, leaf = key.split(".")
        for part in path:
            node = node[part]
        node[leaf] = value
    return config
