"""Skeleton layouts: the references' edge lists, bone parents, flips, parts and partition matrices."""

import numpy as np
import pytest

from fusion.errors import RecipeError
from fusion_plugins.skeleton.layouts import get_layout, layout_names

# The NTU RGB+D joint list, 1-based (child, parent).
NTU_LIST_A = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9), (11, 10), (12, 11),
              (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8),
              (24, 25), (25, 12)]
NTU_LIST_B = [p for p in NTU_LIST_A if p[0] not in (22, 23, 24, 25)] + [(22, 8), (23, 8), (24, 12), (25, 12)]
# pyskl bone pairs, 0-based (0.3): the hands follow list A.
PYSKL_NTU_BONES = [(0, 1), (1, 20), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6), (8, 20), (9, 8), (10, 9),
                   (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16), (18, 17), (19, 18), (21, 22),
                   (20, 20), (22, 7), (23, 24), (24, 11)]
COCO_GRAPH = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 5), (12, 6), (9, 7), (7, 5), (10, 8), (8, 6), (5, 0),
              (6, 0), (1, 0), (3, 1), (2, 0), (4, 2)]
COCO_BONES = [(0, 0), (1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 0), (7, 5), (8, 6), (9, 7), (10, 8), (11, 0),
              (12, 0), (13, 11), (14, 12), (15, 13), (16, 14)]


def zero_based(pairs):
    return {(c - 1, p - 1) for c, p in pairs}


def parents_of(pairs, v):
    parents = np.arange(v)
    for child, parent in pairs:
        parents[child] = parent
    return parents


def test_builtin_layouts_are_registered():
    assert {"ntu25", "ntu25_b", "coco17", "openpose18", "nwucla20"} <= set(layout_names())
    sizes = {name: get_layout(name).num_joints for name in ("ntu25", "coco17", "openpose18", "nwucla20")}
    assert sizes == {"ntu25": 25, "coco17": 17, "openpose18": 18, "nwucla20": 20}


def test_ntu_hand_conventions_follow_the_references():
    a, b = get_layout("ntu25"), get_layout("ntu25_b")
    assert set(a.bones) == zero_based(NTU_LIST_A) and len(a.bones) == 24
    assert set(b.bones) == zero_based(NTU_LIST_B)
    assert a.centre == b.centre == 20 and a.origin == 1  # spine-shoulder centre, spine-mid origin
    assert a.joints[20] == "spine_shoulder" and a.joints[21] == "left_hand_tip"
    np.testing.assert_array_equal(b.stream_parents(), parents_of(PYSKL_NTU_BONES, 25))
    np.testing.assert_array_equal(a.parents(), a.stream_parents())


def test_coco_graph_and_bone_stream_follow_pyskl():
    coco = get_layout("coco17")
    assert set(coco.bones) == set(COCO_GRAPH) and coco.centre == 0
    np.testing.assert_array_equal(coco.stream_parents(), parents_of(COCO_BONES, 17))
    assert coco.parents()[11] == 5  # graph: hip hangs on shoulder; bone stream: on the nose
    assert coco.stream_parents()[11] == 0


@pytest.mark.parametrize("name", ["ntu25", "ntu25_b", "coco17", "openpose18", "nwucla20"])
def test_trees_flips_and_parts(name):
    layout = get_layout(name)
    v = layout.num_joints
    parents = layout.parents()
    assert parents[layout.centre] == layout.centre and np.count_nonzero(parents == np.arange(v)) == 1
    flip = np.asarray(layout.flip)
    np.testing.assert_array_equal(flip[flip], np.arange(v))
    for i, joint in enumerate(layout.joints):  # left <-> right, the rest fixed
        twin = joint.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
        assert layout.joints[flip[i]] == twin
    covered = sorted(j for part in layout.parts.values() for j in part)
    assert covered == list(range(v))  # parts partition the joints
    # flipping a bone gives a bone: the tree is left-right symmetric
    assert {(flip[c], flip[p]) for c, p in layout.bones} == set(layout.bones)


def test_spatial_partition_is_identity_and_column_normalised_in_out_edges():
    layout = get_layout("ntu25")
    a = layout.partition("spatial")
    assert a.shape == (3, 25, 25) and a.dtype == np.float32
    np.testing.assert_array_equal(a[0], np.eye(25))
    # inward: A[1][parent, child] = 1 / (number of parents of child) = 1; the root's column is empty
    for child, parent in layout.bones:
        assert a[1][parent, child] == 1.0
        assert a[2][child, parent] == pytest.approx(1 / sum(p == parent for _, p in layout.bones))
    assert a[1][:, 20].sum() == 0 and np.count_nonzero(a[1]) == 24
    sums = a[1:].sum(axis=1)
    assert np.all(np.isclose(sums, 0) | np.isclose(sums, 1))
    assert a[2][:, 20].tolist().count(0.25) == 4  # spine-shoulder has 4 children: spine-mid, neck, 2 shoulders


def test_stgcn_partition_splits_normalised_adjacency_by_distance_to_centre():
    layout = get_layout("ntu25")
    a = layout.partition("stgcn")
    norm = a.sum(axis=0)
    adjacency = layout.adjacency(self_loops=True)
    np.testing.assert_allclose(norm, adjacency / adjacency.sum(axis=0, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(np.diag(a[0]), np.diag(norm))
    assert np.count_nonzero(a[0] - np.diag(np.diag(a[0]))) == 0
    assert np.count_nonzero(a[1] * a[2]) == 0  # disjoint subsets
    shoulder, elbow, wrist = (layout.index(n) for n in ("left_shoulder", "left_elbow", "left_wrist"))
    assert a[2][shoulder, elbow] > 0 and a[1][shoulder, elbow] == 0  # the shoulder is closer to the centre
    assert a[1][wrist, elbow] > 0 and a[2][wrist, elbow] == 0  # the wrist is farther
    assert layout.partition("uniform").shape == (1, 25, 25)


def test_unknown_names_are_reported_with_suggestions():
    with pytest.raises(RecipeError, match="did you mean 'ntu25'"):
        get_layout("ntu_25")
    with pytest.raises(RecipeError, match="left_elbow"):
        get_layout("ntu25").index("left_elbo")
    with pytest.raises(RecipeError, match="unknown partition"):
        get_layout("ntu25").partition("distance")
