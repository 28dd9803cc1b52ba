"""M-Mixer: Modality Mixer for multimodal action recognition (Lee et al., WACV 2023; CFEM from arXiv 2311.12344).

What follows the papers' abstracts ([ABS]): every modality is a feature sequence
``F^m = (f^m_1 .. f^m_T)``; for each modality ``m`` a clip-level *action content* of the other
modalities is built; a recurrent **Modality Mixer Unit (MCU)** walks over ``F^m`` and injects that
content at every step; the follow-up's **CFEM** builds the content with learnable queries, one set
per modality; a classifier reads the fused result.

What is proposed here ([INF] -- no code or paper body is public, replace when it is):

* the input projection ``Linear(D_m -> d)`` of each encoder's frames (the paper's extractor output);
* the content: ``a^m`` = temporal mean of ``F^m`` (``content="mean"``) and
  ``c^{not m} = ReLU(W_c [a^{m'} ; m' != m] + b)``; or the CFEM (``content="cfem"``): a query set
  ``Q_m`` (``num_queries`` x d) attends, through one pre-LN transformer-decoder layer (``heads``,
  FFN ``ffn_ratio * d``), to the other modalities' frame tokens plus modality and time embeddings,
  and ``c^{not m}`` is the mean of the refined queries (the "multi-modal feature bank" is not built);
* the MCU cell (a GRU with a cross-modal gate and content injection, see :class:`MCUCell`);
* the readout ``z = [h^1_T ; ... ; h^M_T]`` (``readout="last"``, or the mean of ``h`` over time),
  dropout 0.5 and ``Linear(M d_h -> K)``; plus one classifier per modality on its own ``h``
  (``aux['logits_per_modality']``, trained when the objective's ``branch_weight`` > 0).

Missing modalities (mask False): their content is excluded from every other modality's ``c`` (zeroed
slot in the concatenation, key-padding mask in the CFEM; with no other modality present ``c = 0``),
and their own stream contributes zero to ``z`` and to their per-modality logits (bias only), so the
output does not depend on a missing modality's input.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.mixers._common import check_feature_shape, row_mask
from fusion.types import EVERY_MODALITY, LOGITS_PER_MODALITY, AuxField, MixerOutput, MixerSpec

STATES: AuxField[dict[str, torch.Tensor]] = AuxField(
    "states", "modality -> (B, T, H) every MCU hidden state (zeros where the modality is absent)", "mixer 'mmixer'")
CONTENT: AuxField[torch.Tensor] = AuxField(
    "content", "(B, M, d) the other modalities' action content each MCU received (sorted names)", "mixer 'mmixer'")


class MCUCell(nn.Module):
    """The Modality Mixer Unit cell [INF]: a GRU conditioned on the cross-modal content ``c``.

    With ``x = f^m_t``, ``h = h_{t-1}``::

        g  = sigmoid(W_gx x + W_gc c + W_gh h + b_g)      cross-modal gate
        x~ = x + g * (W_c' c)                              content injection
        r  = sigmoid(W_ir x~ + b_ir + W_hr h + b_hr)       reset
        u  = sigmoid(W_iz x~ + b_iz + W_hz h + b_hz)       update
        n  = tanh(W_in x~ + b_in + r * (W_hn h + b_hn))    candidate
        h' = (1 - u) * n + u * h

    The GRU part uses ``torch.nn.GRUCell``'s parameter layout (``ih``/``hh`` hold the r, z, n blocks,
    both with biases), so with ``W_c' = 0`` and ``W_gc = 0`` the cell *is* a ``GRUCell`` with the same
    weights (a sanity property).
    """

    def __init__(self, input_size: int, content_size: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, 3 * hidden_size)
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)
        self.gate_x = nn.Linear(input_size, input_size)
        self.gate_c = nn.Linear(content_size, input_size, bias=False)
        self.gate_h = nn.Linear(hidden_size, input_size, bias=False)
        self.inject = nn.Linear(content_size, input_size, bias=False)
        bound = hidden_size**-0.5  # GRUCell's initialisation for the GRU part
        for p in (*self.ih.parameters(), *self.hh.parameters()):
            nn.init.uniform_(p, -bound, bound)

    def forward(self, x: torch.Tensor, c: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step: ``x (B, I)``, ``c (B, C)``, ``h (B, H)`` -> ``h' (B, H)``."""
        gate_pre = self.gate_x(x) + self.gate_c(c)
        return self._step(x, gate_pre, self.inject(c), h)

    def _step(self, x: torch.Tensor, gate_pre: torch.Tensor, injected: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(gate_pre + self.gate_h(h))
        xi_r, xi_u, xi_n = self.ih(x + g * injected).chunk(3, dim=-1)
        hh_r, hh_u, hh_n = self.hh(h).chunk(3, dim=-1)
        r = torch.sigmoid(xi_r + hh_r)
        u = torch.sigmoid(xi_u + hh_u)
        n = torch.tanh(xi_n + r * hh_n)
        return (1 - u) * n + u * h

    def sequence(self, x: torch.Tensor, c: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Run over ``x (B, T, I)`` with a constant content ``c (B, C)``; returns every state ``(B, T, H)``.

        The input- and content-only terms of the gate are computed for all steps at once; only the
        recurrence itself loops over time.
        """
        batch, frames, _ = x.shape
        gate_pre = self.gate_x(x) + self.gate_c(c).unsqueeze(1)
        injected = self.inject(c)
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0
        states = []
        for t in range(frames):
            h = self._step(x[:, t], gate_pre[:, t], injected, h)
            states.append(h)
        return torch.stack(states, dim=1)


class CFEMLayer(nn.Module):
    """One pre-LN decoder layer [INF]: ``Q' = Q + MHA(LN Q, LN X, LN X)``, ``Q'' = Q' + FFN(LN Q')``."""

    def __init__(self, dim: int, heads: int, ffn_ratio: int):
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ffn = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_ratio * dim), nn.GELU(), nn.Linear(ffn_ratio * dim, dim))

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(tokens)
        q = queries + self.attn(self.norm_q(queries), kv, kv, key_padding_mask=padding, need_weights=False)[0]
        return q + self.ffn(self.norm_ffn(q))


class CFEM(nn.Module):
    """Complementary Feature Extraction Module [INF]: per-modality learnable queries over the other modalities.

    ``forward(tokens, present)``: ``tokens[i] (B, T_i, d)`` per modality, ``present (B, M)`` bool ->
    contents ``(B, M, d)``, row ``m`` built only from tokens of present modalities other than ``m``.
    """

    def __init__(self, num_modalities: int, dim: int, num_queries: int, heads: int, ffn_ratio: int, max_frames: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_modalities, num_queries, dim) * 0.02)
        self.modality_embed = nn.Parameter(torch.randn(num_modalities, dim) * 0.02)
        self.time_embed = nn.Parameter(torch.randn(max_frames, dim) * 0.02)
        self.layers = nn.ModuleList(CFEMLayer(dim, heads, ffn_ratio) for _ in range(num_modalities))

    def forward(self, tokens: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        longest = max(t.shape[1] for t in tokens)
        if longest > self.time_embed.shape[0]:
            raise ContractError(
                f"mmixer: the frame features have {longest} frames but max_frames is {self.time_embed.shape[0]}; "
                f"expected at most {self.time_embed.shape[0]} (raise model.mixer.args.max_frames)"
            )
        embedded = torch.cat(
            [t + self.modality_embed[i] + self.time_embed[: t.shape[1]] for i, t in enumerate(tokens)], dim=1
        )
        owner = torch.cat([torch.full((t.shape[1],), i, device=present.device) for i, t in enumerate(tokens)])
        missing = ~present[:, owner]  # (B, sum T)
        contents = []
        for m, layer in enumerate(self.layers):
            padding = missing | (owner == m)
            empty = padding.all(dim=1)  # no other modality present: attend to anything, then zero
            padding = padding & ~empty[:, None]
            queries = self.queries[m].expand(present.shape[0], -1, -1)
            content = layer(queries, embedded, padding).mean(dim=1)
            contents.append(content * (~empty).to(content.dtype)[:, None])
        return torch.stack(contents, dim=1)


class MMixer(nn.Module):
    """M-Mixer over 2-4 modalities' frame sequences; returns fused logits and per-modality logits.

    Args:
        dims: frame feature size per modality (from the encoders).
        dim: d, the common feature size after each modality's input projection.
        hidden: d_h, the MCU state size.
        content: ``"mean"`` (WACV: temporal mean + FC) or ``"cfem"`` (follow-up: learnable queries).
        num_queries, heads, ffn_ratio, max_frames: CFEM sizes (``max_frames`` bounds its time embedding).
        readout: ``"last"`` (``h_T``) or ``"mean"`` (mean of ``h_t`` over time) per modality.
        dropout: before the fused and the per-modality classifiers.
        detach_content: stop gradients through ``c`` (ablation: streams no longer train each other).
    """

    def __init__(
        self,
        dims: dict[str, int],
        num_classes: int,
        roles: dict,
        dim: int = 512,
        hidden: int = 512,
        content: str = "mean",
        num_queries: int = 2,
        heads: int = 8,
        ffn_ratio: int = 4,
        max_frames: int = 64,
        readout: str = "last",
        dropout: float = 0.5,
        detach_content: bool = False,
    ):
        super().__init__()
        self.order = sorted(dims)
        count = len(self.order)
        if count < 2:
            raise RecipeError(
                f"mmixer: the model has encoders for {', '.join(self.order)} only; expected at least 2 modalities "
                "(add one under model.encoders)"
            )
        if content not in ("mean", "cfem"):
            raise RecipeError(f"mmixer: content={content!r} is unknown; expected mean or cfem")
        if readout not in ("last", "mean"):
            raise RecipeError(f"mmixer: readout={readout!r} is unknown; expected last or mean")
        self.content, self.readout, self.detach_content = content, readout, detach_content
        self.dims = dict(dims)
        self.proj = nn.ModuleDict({m: nn.Linear(dims[m], dim) for m in self.order})
        if content == "mean":
            self.content_fc = nn.ModuleDict({m: nn.Linear((count - 1) * dim, dim) for m in self.order})
        else:
            self.cfem = CFEM(count, dim, num_queries, heads, ffn_ratio, max_frames)
        self.cells = nn.ModuleDict({m: MCUCell(dim, dim, hidden) for m in self.order})
        self.dropout = nn.Dropout(dropout)
        self.classifiers = nn.ModuleDict({m: nn.Linear(hidden, num_classes) for m in self.order})
        self.fc = nn.Linear(count * hidden, num_classes)
        self.out_dim = None  # classifies itself; ``fused`` (B, M * hidden) is still returned

    def contents(self, frames: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        """``c^{not m}`` for every modality, ``(B, M, d)``, from the projected frames and ``present (B, M)``."""
        if self.content == "cfem":
            return self.cfem(frames, present)
        weights = present.to(frames[0].dtype)
        actions = [f.mean(dim=1) * weights[:, i, None] for i, f in enumerate(frames)]  # a^m, zero if missing
        out = []
        for i, m in enumerate(self.order):
            others = [j for j in range(len(self.order)) if j != i]
            any_other = weights[:, others].amax(dim=1, keepdim=True)
            out.append(torch.relu(self.content_fc[m](torch.cat([actions[j] for j in others], dim=1))) * any_other)
        return torch.stack(out, dim=1)

    def forward(self, features, masks) -> MixerOutput:
        sizes: dict[str, int] = {}
        for m in self.order:  # each modality may have its own number of frames
            check_feature_shape("mmixer", m, "frames", features[m].frames, ("B", f"T_{m}", self.dims[m]), sizes)
        frames = [self.proj[m](features[m].frames) for m in self.order]
        present = torch.stack([masks[m] for m in self.order], dim=1)
        content = self.contents(frames, present)
        if self.detach_content:
            content = content.detach()
        states, readouts = {}, []
        for i, m in enumerate(self.order):
            h = self.cells[m].sequence(frames[i], content[:, i])
            h = h * row_mask(masks[m], h)  # a missing modality's stream contributes zero
            states[m] = h
            readouts.append(h[:, -1] if self.readout == "last" else h.mean(dim=1))
        fused = torch.cat(readouts, dim=1)
        per_modality = {m: self.classifiers[m](self.dropout(r)) for m, r in zip(self.order, readouts)}
        return MixerOutput(
            fused=fused,
            logits=self.fc(self.dropout(fused)),
            aux={LOGITS_PER_MODALITY.name: per_modality, STATES.name: states, CONTENT.name: content},
        )


SPEC = MixerSpec(
    name="mmixer",
    factory=MMixer,
    aux=(LOGITS_PER_MODALITY, STATES, CONTENT),
    needs={EVERY_MODALITY: frozenset({"frames"})},
    doc="M-Mixer: per-modality MCU recurrences with the other modalities' action content (mean or CFEM) [INF].",
)
