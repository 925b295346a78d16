"""Patch files: the edits of an unlearning run, to save, ship and apply to a fresh model.

A patch is one safetensors file. Its tensors are the edits (neuron indices, deltas and original
rows per edit); its metadata is JSON: a format version, the REVS settings, a fingerprint of the
model the patch was computed on (architecture, sizes, dtype and a hash of sampled weights), one
salted scrypt hash per target, and a checksum of the tensors and the rest of the metadata. The
secrets are never stored: the hashes are slow to compute so that guessing secrets from them (e.g.
trying all SSNs) is expensive, and :meth:`Patch.covers` tells whether a given (prompt, secret) is
among the targets.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import REVSConfig
from .data.records import Record
from .edit import NeuronEdit, apply_edits_, revert_edits_
from .layout import dimensions, final_norm, get_layout, neuron_weights, unembedding

__all__ = ["Patch", "load_patch", "model_fingerprint", "target_hashes"]

FORMAT = "revs-patch/2"
"""Written by this version; ``revs-patch/1`` (its checksum covered the tensors only) still reads."""
_FORMATS = ("revs-patch/1", FORMAT)
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 16}
_FINGERPRINT_ROWS = 256  # sampled rows of the unembedding


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes()


def model_fingerprint(model: nn.Module) -> dict:
    """What identifies a model for a patch: type, sizes, dtype and a hash of the weights.

    The hash covers every layer's MLP output projection (the weights REVS edits: another patch
    applied to them changes the hash), evenly spaced rows of the unembedding and the final norm's
    weight. Exact bytes, so it is the same on any device.
    """
    layout = get_layout(model)
    dims = dimensions(model, layout)
    digest = hashlib.sha256()
    for layer in range(dims["n_layers"]):
        digest.update(_bytes(neuron_weights(model, layer, layout)))  # [d_mlp, d_model]
    w_unembed, _ = unembedding(model, layout)
    digest.update(_bytes(w_unembed[:: max(1, w_unembed.shape[0] // _FINGERPRINT_ROWS)]))
    digest.update(_bytes(final_norm(model, layout).weight))
    return {
        "model_type": model.config.model_type,
        **dims,
        "dtype": str(neuron_weights(model, 0, layout).dtype).removeprefix("torch."),
        "weights_sha256": digest.hexdigest(),
    }


def _target_hash(record: Record, salt: bytes) -> str:
    text = (record.prompt + "\x00" + record.target).encode("utf-8")
    return hashlib.scrypt(text, salt=salt, **_SCRYPT).hex()


def target_hashes(targets: Sequence[Record], salt: bytes | None = None) -> dict:
    """Salted scrypt hashes of ``(prompt, secret)`` pairs: ``{"salt", "kdf", "hashes"}``."""
    salt = os.urandom(16) if salt is None else salt
    return {
        "salt": salt.hex(),
        "kdf": {"name": "scrypt", **_SCRYPT},
        "hashes": [_target_hash(r, salt) for r in targets],
    }


_MOVED_TO_RECORDS = ("skip", "stop", "skip_whitespace")
"""Token settings of patches made before the token rule became the records' (revs.data.rules):
the edits they describe stay valid, so the settings are dropped when such a patch is read."""


def _config_from_dict(values: dict) -> REVSConfig:
    fields = {f.name: f for f in dataclasses.fields(REVSConfig)}
    values = {k: v for k, v in values.items() if k not in _MOVED_TO_RECORDS}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown REVS settings {sorted(unknown)} (a patch from a newer revs?)")
    return REVSConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass
class Patch:
    """Edits with what they were computed on. Build one with :func:`revs.unlearn`."""

    edits: list[NeuronEdit]
    config: REVSConfig
    fingerprint: dict
    """:func:`model_fingerprint` of the model before the edits."""
    targets: dict
    """:func:`target_hashes` of the targets."""

    def __len__(self) -> int:
        return len(self.edits)

    def check_model(self, model: nn.Module) -> None:
        """Raise ``ValueError`` saying how ``model`` differs from the one the patch is for."""
        have = model_fingerprint(model)
        want = self.fingerprint
        if have == want:
            return
        shape = ("model_type", "n_layers", "d_model", "d_mlp", "d_vocab")
        if any(have.get(k) != want.get(k) for k in shape):
            raise ValueError(
                "this patch is for another model: it was made for "
                + ", ".join(f"{k}={want.get(k)}" for k in shape) + "; this model has "
                + ", ".join(f"{k}={have.get(k)}" for k in shape)
            )
        if have["dtype"] != want["dtype"]:
            raise ValueError(
                f"this patch was made on the model in {want['dtype']}; this copy is "
                f"{have['dtype']}: load it with dtype={want['dtype']} before applying"
            )
        raise ValueError(
            "this patch is for another model: same architecture and sizes, but other weights "
            "(another checkpoint, or a model already edited, e.g. by this very patch)"
        )

    def apply_(self, model: nn.Module) -> None:
        """Apply the edits to ``model`` in place, after checking it is the patch's model."""
        self.check_model(model)
        apply_edits_(model, self.edits)

    def check_applied(self, model: nn.Module) -> None:
        """Raise ``ValueError`` unless ``model`` holds exactly the rows this patch writes."""
        expected: dict[tuple[int, int], torch.Tensor] = {}
        for edit in self.edits:  # a neuron edited twice ends with its last edit's row
            for neuron, row in zip(edit.neurons.tolist(), edit.edited, strict=True):
                expected[(edit.layer, neuron)] = row
        layout = get_layout(model)
        n_layers = dimensions(model, layout)["n_layers"]
        for (layer, neuron), row in expected.items():
            rows = neuron_weights(model, layer, layout) if 0 <= layer < n_layers else None
            if rows is None or not torch.equal(rows[neuron], row.to(rows.device)):
                raise ValueError(
                    "this model does not hold this patch's edits: revert needs the model the "
                    "patch was applied to (e.g. the folder revs apply wrote)"
                )

    def revert_(self, model: nn.Module) -> None:
        """Undo :meth:`apply_` bit for bit, after checking that ``model`` holds the edits."""
        self.check_applied(model)
        revert_edits_(model, self.edits)

    def covers(self, record: Record) -> bool:
        """Whether ``record`` (prompt and secret) is one of the patch's targets."""
        salt = bytes.fromhex(self.targets["salt"])
        return _target_hash(record, salt) in self.targets["hashes"]

    def save(self, path: str | Path) -> Path:
        """Write the patch to ``path`` (a ``.safetensors`` file; written atomically)."""
        from safetensors.torch import save_file

        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{str(path)!r} is a folder: give the patch a file name, e.g. "
                                    f"{str(path / 'patch.safetensors')!r}")
        tensors: dict[str, torch.Tensor] = {}
        for i, edit in enumerate(self.edits):
            tensors[f"{i}.neurons"] = edit.neurons.detach().cpu().contiguous()
            tensors[f"{i}.delta"] = edit.delta.detach().cpu().contiguous()
            tensors[f"{i}.original"] = edit.original.detach().cpu().contiguous()
        meta = {
            "format": FORMAT,
            "layers": [edit.layer for edit in self.edits],
            "config": dataclasses.asdict(self.config),
            "fingerprint": self.fingerprint,
            "targets": self.targets,
        }
        meta["sha256"] = _checksum(tensors, meta)
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            save_file(tensors, str(staging), metadata={"revs": json.dumps(meta)})
            staging.replace(path)  # atomic: the patch appears complete or not at all
        finally:
            staging.unlink(missing_ok=True)
        return path


def _checksum(tensors: dict[str, torch.Tensor], meta: dict | None = None) -> str:
    """SHA-256 of the tensors and, from format 2 on, of the metadata (but this checksum)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        digest.update(name.encode() + _bytes(tensors[name]))
    if meta is not None:
        rest = {key: value for key, value in meta.items() if key != "sha256"}
        digest.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()


def _check_metadata(name: str, meta: object) -> dict:
    kinds = {"format": str, "layers": list, "config": dict, "fingerprint": dict, "targets": dict}
    bad = ([] if isinstance(meta, dict) else ["the metadata is not an object"]) or [
        key for key, kind in kinds.items() if not isinstance(meta.get(key), kind)]
    if bad:
        raise ValueError(f"{name} is not a readable revs patch: missing or malformed {bad}")
    if meta["format"] not in _FORMATS:
        raise ValueError(f"{name}: unknown patch format {meta['format']!r} (from a newer revs?)")
    return meta


def load_patch(path: str | Path) -> Patch:
    """Read a patch written by :meth:`Patch.save`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a revs patch, or it is corrupted (unreadable, or its tensors
            do not match their checksum).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no patch file at {str(path)!r}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
        meta = json.loads(header["revs"])
    except Exception as error:  # safetensors raises its own error types
        raise ValueError(
            f"{path.name} is not a readable revs patch (corrupted, truncated or not written by "
            f"revs): {type(error).__name__}: {error}"
        ) from None
    meta = _check_metadata(path.name, meta)
    if meta["format"] == "revs-patch/1":
        intact = _checksum(tensors) == meta.get("tensors_sha256")
    else:
        intact = _checksum(tensors, meta) == meta.get("sha256")
    if not intact:
        raise ValueError(f"{path.name} is corrupted: its contents do not match their checksum")
    try:
        edits = [
            NeuronEdit(layer=layer, neurons=tensors[f"{i}.neurons"], delta=tensors[f"{i}.delta"],
                       original=tensors[f"{i}.original"])
            for i, layer in enumerate(meta["layers"])
        ]
    except KeyError as error:
        raise ValueError(f"{path.name} is not a readable revs patch: no tensor {error}") from None
    return Patch(edits=edits, config=_config_from_dict(meta["config"]),
                 fingerprint=meta["fingerprint"], targets=meta["targets"])
