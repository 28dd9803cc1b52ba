"""Skeleton layouts: joint names, bone tree, centre, body parts, left-right flip and graph partitions.

Every encoder and augmentation takes joint indices from a :class:`SkeletonLayout`, never from literals,
so a new keypoint convention is one :func:`register_layout` call away. Layouts are defined by *names*
(``("left_elbow", "left_shoulder")``) rather than indices so they read like the papers' figures; the
indices follow from the order of ``joints``.

Built-in layouts (``get_layout(name)``):

- ``ntu25``   NTU RGB+D / Kinect v2, hand convention A (ST-GCN, CTR-GCN, PSUMNet): the hand tip hangs on
  the thumb and the thumb on the hand.
- ``ntu25_b`` the same joints with hand convention B (pyskl, BRL, Hyper-GCN): tip and thumb both hang on
  the hand. Its *bone stream* keeps convention A, as pyskl's ``JointToBone`` does (``stream_bones``).
- ``coco17``  COCO keypoints, pyskl ``coco`` graph; pyskl's bone stream hangs the hips on the nose.
- ``openpose18`` OpenPose-18 (Kinetics-skeleton), the ST-GCN ``openpose`` graph.
- ``nwucla20`` Kinect v1 (NW-UCLA, SDK joint order), the CTR-GCN ``ucla`` graph.

Graph matrices follow the references exactly (see :meth:`SkeletonLayout.partition`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from fusion.errors import RecipeError, RegistryError

Pair = tuple[int, int]

#: Names of the partition strategies :meth:`SkeletonLayout.partition` knows.
STRATEGIES = ("spatial", "stgcn", "uniform")


# --------------------------------------------------------------------------------------------
# Graph helpers (pure numpy; the layout methods below are thin wrappers)


def edge_matrix(pairs: Iterable[Pair], num_joints: int) -> np.ndarray:
    """Binary (V, V) matrix with ``E[j, i] = 1`` for each pair ``(i, j)`` (the references' ``edge2mat``)."""
    pairs = np.asarray(list(pairs), dtype=np.int64).reshape(-1, 2)
    matrix = np.zeros((num_joints, num_joints), dtype=np.float64)
    matrix[pairs[:, 1], pairs[:, 0]] = 1.0
    return matrix


def normalize_columns(matrix: np.ndarray) -> np.ndarray:
    """``E · diag(1 / colsum(E))`` with zero columns left at zero (``normalize_digraph``)."""
    sums = matrix.sum(axis=0)
    scale = np.divide(1.0, sums, out=np.zeros_like(sums, dtype=np.float64), where=sums > 0)
    return matrix * scale[None, :]


def hop_distance(adjacency: np.ndarray, max_hop: int | None = None) -> np.ndarray:
    """Hop distances of an undirected graph, ``inf`` beyond ``max_hop`` (``None``: no limit).

    Computed as ST-GCN does, from the reachability of powers of ``A + I``, so that ``max_hop=1`` gives
    exactly the truncated distances the official ST-GCN graph uses.
    """
    num = adjacency.shape[0]
    reach = ((adjacency + adjacency.T + np.eye(num)) > 0).astype(np.float64)
    limit = num - 1 if max_hop is None else max_hop
    distance = np.full((num, num), np.inf)
    power = np.eye(num)
    distance[power > 0] = 0
    for hop in range(1, limit + 1):
        power = (power @ reach > 0).astype(np.float64)
        distance[(power > 0) & np.isinf(distance)] = hop
    return distance


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkeletonLayout:
    """One keypoint convention: names, bone tree, centre joint, body parts and left-right flip.

    Attributes:
        name: registry name, e.g. ``"ntu25"``.
        joints: joint names in array order; ``left_*``/``right_*`` prefixes define the flip.
        bones: ``(child, parent)`` index pairs of the graph ("inward" edges); for the built-in layouts a
            tree rooted at ``centre``.
        centre: the graph's centre joint (root of the bone tree; ST-GCN's partition centre).
        origin: the joint :func:`skeleton.center` subtracts by default (NTU: spine-mid, as in the SGN /
            CTR-GCN preprocessing; NW-UCLA: spine, as in CTR-GCN's feeder).
        parts: body part name → joint indices; the built-ins partition all joints into ``head``,
            ``torso``, ``left_arm``, ``right_arm``, ``left_leg``, ``right_leg``.
        flip: permutation swapping left and right joints (an involution).
        stream_bones: ``(child, parent)`` pairs the reference code uses for the *bone stream* where they
            differ from the graph (pyskl ``coco`` and ``nturgb+d``); ``None``: the graph's ``bones``.
        doc: one line on where the layout comes from.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[Pair, ...]
    centre: int
    origin: int
    parts: Mapping[str, tuple[int, ...]] = field(hash=False, compare=False)
    flip: tuple[int, ...]
    stream_bones: tuple[Pair, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        v = self.num_joints
        for pair in self.bones + (self.stream_bones or ()):
            if not all(0 <= j < v for j in pair):
                raise RegistryError(f"layout {self.name!r}: bone {pair} is outside the joints 0..{v - 1}")
        for what, index in (("centre", self.centre), ("origin", self.origin)):
            if not 0 <= index < v:
                raise RegistryError(f"layout {self.name!r}: {what} joint {index} is outside the joints 0..{v - 1}")
        flip = np.asarray(self.flip)
        if sorted(self.flip) != list(range(v)) or not np.array_equal(flip[flip], np.arange(v)):
            raise RegistryError(f"layout {self.name!r}: flip {self.flip} is not an involutive permutation of {v} joints")

    # ---------------------------------------------------------------- names and indices

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str | int) -> int:
        """The index of a joint given by name (or an index, checked)."""
        if isinstance(joint, (int, np.integer)):
            if not 0 <= joint < self.num_joints:
                raise RecipeError(f"layout {self.name!r} has joints 0..{self.num_joints - 1}, not {joint}")
            return int(joint)
        try:
            return self.joints.index(joint)
        except ValueError:
            close = difflib.get_close_matches(str(joint), self.joints, n=3)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise RecipeError(f"layout {self.name!r} has no joint {joint!r}{hint} Joints: {', '.join(self.joints)}") from None

    # ---------------------------------------------------------------- trees

    def parents(self) -> np.ndarray:
        """(V,) parent index of every joint in the bone tree; the root is its own parent."""
        return _parents(self.name, self.num_joints, self.bones, self.centre)

    def stream_parents(self) -> np.ndarray:
        """(V,) parents for the bone stream: ``stream_bones`` where given, else :meth:`parents`."""
        if self.stream_bones is None:
            return self.parents()
        return _parents(self.name + " (stream bones)", self.num_joints, self.stream_bones, self.centre)

    # ---------------------------------------------------------------- graphs

    @property
    def inward(self) -> tuple[Pair, ...]:
        """Child → parent edges (= ``bones``)."""
        return self.bones

    @property
    def outward(self) -> tuple[Pair, ...]:
        """Parent → child edges."""
        return tuple((j, i) for i, j in self.bones)

    def adjacency(self, self_loops: bool = False) -> np.ndarray:
        """Symmetric binary (V, V) adjacency of the bone graph, optionally with self loops."""
        a = edge_matrix(self.bones, self.num_joints)
        a = np.maximum(a, a.T)
        return a + np.eye(self.num_joints) if self_loops else a

    def hop_distance(self, max_hop: int | None = None) -> np.ndarray:
        """(V, V) hop distances on the bone graph, ``inf`` beyond ``max_hop``."""
        return hop_distance(self.adjacency(), max_hop)

    def partition(self, strategy: str = "spatial", *, truncated_centre_distance: bool = True) -> np.ndarray:
        """The (K, V, V) float32 adjacency stack a GCN aggregates with.

        Args:
            strategy: one of

                - ``"spatial"``: CTR-GCN / pyskl ``spatial``: ``stack(I, colnorm(E_in), colnorm(E_out))``
                  with ``E[j, i] = 1`` per ``(i, j)`` pair. K = 3.
                - ``"stgcn"``: Yan et al.'s spatial configuration partition: the hop ≤ 1 adjacency with
                  self loops, column-normalised to N; subset 0 holds the self loops, subset 1 the edges
                  ``(j, i)`` with ``d(j) >= d(i)`` and subset 2 those with ``d(j) < d(i)``, where ``d`` is
                  the hop distance to the centre. K = 3; the three subsets sum to N.
                - ``"uniform"``: N alone. K = 1.
            truncated_centre_distance: for ``"stgcn"``, compute ``d`` with hop distances truncated at 1
                (``inf`` further away) exactly as the official ST-GCN code does; ``False`` uses true
                distances (the paper's description). The two differ only on edges far from the centre.
        """
        v = self.num_joints
        if strategy == "spatial":
            identity = edge_matrix(((i, i) for i in range(v)), v)
            a = np.stack(
                [identity, normalize_columns(edge_matrix(self.inward, v)), normalize_columns(edge_matrix(self.outward, v))]
            )
        elif strategy in ("stgcn", "uniform"):
            hops = self.hop_distance(max_hop=1)
            norm = normalize_columns((hops <= 1).astype(np.float64))
            if strategy == "uniform":
                a = norm[None]
            else:
                to_centre = (hops if truncated_centre_distance else self.hop_distance())[:, self.centre]
                # element [j, i]: d(j) compared with d(i)
                d_j, d_i = to_centre[:, None], to_centre[None, :]
                neighbours = hops == 1
                a = np.stack([norm * (hops == 0), norm * (neighbours & (d_j >= d_i)), norm * (neighbours & (d_j < d_i))])
        else:
            raise RecipeError(f"unknown partition strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        return a.astype(np.float32)


def _parents(name: str, num_joints: int, bones: Sequence[Pair], root: int) -> np.ndarray:
    parents = np.full(num_joints, -1, dtype=np.int64)
    for child, parent in bones:
        if child == parent:
            continue  # pyskl writes the root as (root, root)
        if parents[child] >= 0:
            raise RegistryError(f"layout {name!r}: joint {child} has two parents ({parents[child]} and {parent}); "
                                f"expected a tree")
        parents[child] = parent
    if parents[root] >= 0:
        raise RegistryError(f"layout {name!r}: the root joint {root} has a parent; expected none")
    parents[root] = root
    orphans = np.flatnonzero(parents < 0)
    if orphans.size:
        raise RegistryError(f"layout {name!r}: joints {orphans.tolist()} have no parent; expected a tree rooted at {root}")
    # every joint must reach the root in at most V steps (no cycles)
    walk = np.arange(num_joints)
    for _ in range(num_joints):
        walk = parents[walk]
    if np.any(walk != root):
        raise RegistryError(f"layout {name!r}: joints {np.flatnonzero(walk != root).tolist()} do not reach the root {root} "
                            "(a cycle); expected a tree")
    return parents


# --------------------------------------------------------------------------------------------
# Building layouts from names


def _flip_from_names(joints: Sequence[str]) -> tuple[int, ...]:
    """Swap every ``left_*`` joint with its ``right_*`` twin; other joints map to themselves."""
    index = {n: i for i, n in enumerate(joints)}
    swap = {"left_": "right_", "right_": "left_"}
    flip = []
    for n in joints:
        prefix = next((p for p in swap if n.startswith(p)), None)
        flip.append(index[swap[prefix] + n[len(prefix):]] if prefix else index[n])
    return tuple(flip)


def make_layout(
    name: str,
    joints: Sequence[str],
    bones: Sequence[tuple[str, str]],
    centre: str,
    parts: Mapping[str, Sequence[str]],
    origin: str | None = None,
    stream_bones: Sequence[tuple[str, str]] | None = None,
    doc: str = "",
) -> SkeletonLayout:
    """Build a :class:`SkeletonLayout` from joint *names*; the flip comes from ``left_``/``right_`` prefixes."""
    joints = tuple(joints)
    index = {n: i for i, n in enumerate(joints)}

    def pairs(named):
        try:
            return tuple((index[c], index[p]) for c, p in named)
        except KeyError as exc:
            raise RegistryError(f"layout {name!r}: a bone names joint {exc.args[0]!r}, which is not one of its joints") from None

    return SkeletonLayout(
        name=name,
        joints=joints,
        bones=pairs(bones),
        centre=index[centre],
        origin=index[origin or centre],
        parts={part: tuple(index[j] for j in names) for part, names in parts.items()},
        flip=_flip_from_names(joints),
        stream_bones=None if stream_bones is None else pairs(stream_bones),
        doc=doc,
    )


def _sides(*names: str) -> tuple[str, ...]:
    return tuple(f"{side}_{n}" for side in ("left", "right") for n in names)


def _limbs(arm: Sequence[str], leg: Sequence[str]) -> dict[str, tuple[str, ...]]:
    return {f"{side}_{limb}": tuple(f"{side}_{j}" for j in joints)
            for limb, joints in (("arm", arm), ("leg", leg)) for side in ("left", "right")}


def _chain(*names: str) -> list[tuple[str, str]]:
    """``_chain(a, b, c)`` = [(b, a), (c, b)]: each joint hangs on the one before it."""
    return [(child, parent) for parent, child in zip(names, names[1:])]


# NTU RGB+D (Kinect v2), order of the .skeleton files.
_NTU_JOINTS = (
    "spine_base", "spine_mid", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",
)
_NTU_BODY = (
    _chain("spine_shoulder", "spine_mid", "spine_base")
    + _chain("spine_shoulder", "neck", "head")
    + [edge for side in ("left", "right") for edge in (
        _chain("spine_shoulder", f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist", f"{side}_hand")
        + _chain("spine_base", f"{side}_hip", f"{side}_knee", f"{side}_ankle", f"{side}_foot"))]
)
#: Convention A: tip → thumb → hand.
_NTU_HANDS_A = [edge for s in ("left", "right") for edge in _chain(f"{s}_hand", f"{s}_thumb", f"{s}_hand_tip")]
#: Convention B: tip → hand, thumb → hand.
_NTU_HANDS_B = [(f"{s}_{j}", f"{s}_hand") for s in ("left", "right") for j in ("hand_tip", "thumb")]
_NTU_PARTS = {
    "head": ("neck", "head"),
    "torso": ("spine_base", "spine_mid", "spine_shoulder"),
    **_limbs(("shoulder", "elbow", "wrist", "hand", "hand_tip", "thumb"), ("hip", "knee", "ankle", "foot")),
}

_COCO_JOINTS = ("nose",) + tuple(f"{s}_{j}" for j in ("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle")
                                 for s in ("left", "right"))
_COCO_GRAPH = [edge for s in ("left", "right") for edge in (
    _chain("nose", f"{s}_eye", f"{s}_ear")
    + _chain("nose", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")
    + _chain(f"{s}_shoulder", f"{s}_hip", f"{s}_knee", f"{s}_ankle"))]
#: pyskl ``JointToBone`` for coco: the hips hang on the nose, not on the shoulders.
_COCO_STREAM = [edge for s in ("left", "right") for edge in (
    _chain("nose", f"{s}_eye", f"{s}_ear")
    + _chain("nose", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")
    + _chain("nose", f"{s}_hip", f"{s}_knee", f"{s}_ankle"))]
_COCO_PARTS = {"head": ("nose",) + _sides("eye", "ear"), "torso": _sides("shoulder", "hip"),
               **_limbs(("elbow", "wrist"), ("knee", "ankle"))}

_OPENPOSE_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
_OPENPOSE_GRAPH = [("nose", "neck")] + [edge for s in ("left", "right") for edge in (
    _chain("neck", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist")
    + _chain(f"{s}_shoulder", f"{s}_hip", f"{s}_knee", f"{s}_ankle")
    + _chain("nose", f"{s}_eye", f"{s}_ear"))]
_OPENPOSE_PARTS = {"head": ("nose",) + _sides("eye", "ear"), "torso": ("neck",),
                   **_limbs(("shoulder", "elbow", "wrist"), ("hip", "knee", "ankle"))}

# Kinect v1 SDK order (NUI_SKELETON_POSITION_*), as NW-UCLA stores it.
_KINECT1_JOINTS = (
    "hip_center", "spine", "shoulder_center", "head",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
)
_KINECT1_GRAPH = (
    _chain("shoulder_center", "spine", "hip_center") + _chain("shoulder_center", "head")
    + [edge for s in ("left", "right") for edge in (
        _chain("shoulder_center", f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist", f"{s}_hand")
        + _chain("hip_center", f"{s}_hip", f"{s}_knee", f"{s}_ankle", f"{s}_foot"))]
)
_KINECT1_PARTS = {"head": ("head",), "torso": ("hip_center", "spine", "shoulder_center"),
                  **_limbs(("shoulder", "elbow", "wrist", "hand"), ("hip", "knee", "ankle", "foot"))}

_LAYOUTS: dict[str, SkeletonLayout] = {}


def register_layout(layout: SkeletonLayout) -> SkeletonLayout:
    """Add a layout to the table :func:`get_layout` reads (plugins call this at import time)."""
    if layout.name in _LAYOUTS and _LAYOUTS[layout.name] != layout:
        raise RegistryError(f"skeleton layout {layout.name!r} is registered twice with different definitions; "
                            "expected one name per layout")
    _LAYOUTS[layout.name] = layout
    return layout


def get_layout(name: str | SkeletonLayout) -> SkeletonLayout:
    """The layout registered as ``name``, or declared in the YAML file ``name`` (see :mod:`.layout_file`);
    a layout object is returned as is."""
    if isinstance(name, SkeletonLayout):
        return name
    from fusion_plugins.skeleton.layout_file import is_layout_file, load_layout_file

    if is_layout_file(name):
        return load_layout_file(name)
    try:
        return _LAYOUTS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(_LAYOUTS), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise RecipeError(f"unknown skeleton layout {name!r}{hint} Known layouts: {', '.join(layout_names())}") from None


def layout_names() -> list[str]:
    return sorted(_LAYOUTS)


NTU25 = register_layout(make_layout(
    "ntu25", _NTU_JOINTS, _NTU_BODY + _NTU_HANDS_A, centre="spine_shoulder", origin="spine_mid", parts=_NTU_PARTS,
    doc="NTU RGB+D Kinect v2, hand convention A (ST-GCN, CTR-GCN, PSUMNet).",
))
NTU25_B = register_layout(make_layout(
    "ntu25_b", _NTU_JOINTS, _NTU_BODY + _NTU_HANDS_B, centre="spine_shoulder", origin="spine_mid", parts=_NTU_PARTS,
    stream_bones=_NTU_BODY + _NTU_HANDS_A,
    doc="NTU RGB+D Kinect v2, hand convention B (pyskl, BRL, Hyper-GCN); bone stream as pyskl (convention A).",
))
COCO17 = register_layout(make_layout(
    "coco17", _COCO_JOINTS, _COCO_GRAPH, centre="nose", parts=_COCO_PARTS, stream_bones=_COCO_STREAM,
    doc="COCO-17 keypoints, pyskl 'coco' graph and bone pairs.",
))
OPENPOSE18 = register_layout(make_layout(
    "openpose18", _OPENPOSE_JOINTS, _OPENPOSE_GRAPH, centre="neck", parts=_OPENPOSE_PARTS,
    doc="OpenPose-18 (Kinetics-skeleton), ST-GCN 'openpose' graph.",
))
NWUCLA20 = register_layout(make_layout(
    "nwucla20", _KINECT1_JOINTS, _KINECT1_GRAPH, centre="shoulder_center", origin="spine", parts=_KINECT1_PARTS,
    doc="NW-UCLA Kinect v1 (SDK order), CTR-GCN 'ucla' graph.",
))
