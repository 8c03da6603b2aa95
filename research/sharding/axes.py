"""The logical axis vocabulary and the default rules that map it onto mesh axes.

Modules name array dimensions with these logical names only (`nn.with_logical_partitioning`,
`nn.with_logical_constraint`); the trainer turns them into mesh shardings with `RULES`. The mesh
always has the three axes of `MESH_AXES`, any of which may have size 1.

A config can extend the rules (t5x's `additional_rules`): `with_additional_rules(parse_rules(text))`
puts its rules before `RULES`, so they win. The text syntax, for `--config.sharding_rules`, is
comma-separated `logical=mesh_axis[+mesh_axis]`, with `none` for "replicated":
`length=tensor,embed=fsdp+data,kv=none`.

Letters used in shape comments across the project: B batch, T/S length, D embed, F mlp, N heads,
H head dim (kv), V vocab, Z latent.
"""

# Mesh axes, outermost first: pure data parallelism, fully sharded data parallelism (parameters and
# optimizer state split over this axis, gathered per layer), and tensor (model) parallelism.
MESH_AXES = ("data", "fsdp", "tensor")

# Logical name -> what it labels.
LOGICAL_AXES = {
    "batch": "examples in a batch",
    "length": "positions in a sequence",
    "embed": "model width (D)",
    "mlp": "MLP hidden width (F)",
    "heads": "attention heads (N)",
    "kv": "width of one attention head (H)",
    "vocab": "vocabulary entries (V)",
    "hidden": "recurrent or dense hidden units",
    "latent": "autoencoder latent units (Z)",
    "layers": "stacked (scanned) layers",
    "lora_rank": "LoRA factor rank",
}

# Ordered rules, t5x style: for each logical name, the mesh axes it may use. A rule is skipped when
# its mesh axis is already taken by another dimension of the same array, so `embed` shards over
# `fsdp` for weights while activations, whose `batch` already holds `fsdp`, keep `embed` whole.
RULES = (
    ("batch", ("data", "fsdp")),
    ("vocab", "tensor"),
    ("mlp", "tensor"),
    ("heads", "tensor"),
    ("hidden", "tensor"),
    ("embed", "fsdp"),
    ("latent", None),
    ("length", None),
    ("kv", None),
    ("layers", None),
    ("lora_rank", None),
)


def parse_rules(text: str) -> tuple:
    """Rules from 'logical=mesh_axis[+mesh_axis],...' ('none' = replicated; '' = no rules).

    `'length=tensor,embed=fsdp+data,kv=none'` -> `(('length', 'tensor'), ('embed', ('fsdp',
    'data')), ('kv', None))`. The result is validated by `with_additional_rules`, not here.
    """
    rules = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, target = (x.strip() for x in item.partition("="))
        axes = tuple(a.strip() for a in target.split("+"))
        if not sep or not name or not target or not all(axes):
            raise ValueError(
                f"The sharding rule {item!r} is not of the form logical=mesh_axis[+mesh_axis]; "
                "write for example 'length=tensor', 'embed=fsdp+data' or 'kv=none'."
            )
        if target.lower() == "none":
            rules.append((name, None))
        else:
            rules.append((name, axes[0] if len(axes) == 1 else axes))
    return tuple(rules)


def with_additional_rules(additional) -> tuple:
    """`additional` rules followed by `RULES`, after checking every name they use.

    Flax takes, for each dimension, the first rule of its logical name whose mesh axes are still
    free in that array, so rules placed first override the defaults; a name may have several rules
    (tried in order). Each rule is `(logical_name, None | mesh_axis | tuple of mesh_axes)`.
    """
    checked = []
    for rule in additional:
        if not (isinstance(rule, tuple | list) and len(rule) == 2):
            raise ValueError(
                f"The sharding rule {rule!r} is not a (logical_name, mesh_axes) pair; write for "
                "example ('length', 'tensor') or ('embed', ('fsdp', 'data'))."
            )
        name, target = rule
        if name not in LOGICAL_AXES:
            raise ValueError(
                f"The sharding rule {tuple(rule)!r} uses the unknown logical axis {name!r}; use "
                f"one of {', '.join(LOGICAL_AXES)}."
            )
        if isinstance(target, list):
            target = tuple(target)
        axes = () if target is None else (target,) if isinstance(target, str) else target
        if not isinstance(axes, tuple):
            raise ValueError(
                f"The sharding rule {tuple(rule)!r} maps to {target!r}; map a logical axis to a "
                "mesh axis name, a tuple of them, or None (replicated)."
            )
        for axis in axes:
            if axis not in MESH_AXES:
                raise ValueError(
                    f"The sharding rule {tuple(rule)!r} uses the unknown mesh axis {axis!r}; use "
                    f"{', '.join(MESH_AXES)} or None (replicated)."
                )
        if len(set(axes)) != len(axes):
            raise ValueError(
                f"The sharding rule {tuple(rule)!r} names a mesh axis twice; an array dimension "
                "can use each mesh axis once."
            )
        checked.append((name, target))
    return tuple(checked) + RULES
