"""The logical axis vocabulary and the default rules that map it onto mesh axes.

Modules name array dimensions with these logical names only (`nn.with_logical_partitioning`,
`nn.with_logical_constraint`); the trainer turns them into mesh shardings with `RULES`. The mesh
always has the three axes of `MESH_AXES`, any of which may have size 1.

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
