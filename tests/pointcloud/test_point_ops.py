"""Point-cloud primitives: farthest-point sampling, kNN / ball grouping, gathering, interpolation."""

import pytest
import torch

from fusion.errors import ContractError
from fusion_plugins.pointcloud.ops import (
    ball_query,
    farthest_point_sample,
    gather_points,
    group,
    interpolate,
    knn,
    square_distance,
)


@pytest.fixture
def cloud():
    return torch.rand(3, 200, 3, generator=torch.Generator().manual_seed(0))


def coverage(points, picks):
    """The largest distance from a point to its nearest pick (smaller = better spread)."""
    return square_distance(points, gather_points(points, picks)).min(-1).values.max(-1).values.sqrt()


def test_fps_returns_distinct_indices_starting_at_the_given_point(cloud):
    picks = farthest_point_sample(cloud, 50)
    assert picks.shape == (3, 50) and all(len(set(row.tolist())) == 50 for row in picks)
    assert torch.all(picks[:, 0] == 0)
    start = torch.tensor([5, 6, 7])
    assert torch.equal(farthest_point_sample(cloud, 4, start)[:, 0], start)
    with pytest.raises(ContractError, match=r"cannot pick 201 distinct points out of the 200 of xyz \(3, 200, 3\)"):
        farthest_point_sample(cloud, 201)


def test_fps_spreads_points_better_than_random_sampling(cloud):
    picks = farthest_point_sample(cloud, 16)
    random = torch.stack([torch.randperm(200, generator=torch.Generator().manual_seed(i))[:16] for i in range(3)])
    assert torch.all(coverage(cloud, picks) < coverage(cloud, random))
    line = torch.linspace(0, 1, 11).view(1, 11, 1) * torch.tensor([1.0, 0, 0])
    assert farthest_point_sample(line, 3)[0].tolist() == [0, 10, 5]  # the ends, then the middle


def test_knn_matches_a_sort_and_ball_query_repeats_the_nearest(cloud):
    query = cloud[:, :5]
    dist2, idx = knn(query, cloud, 8)
    expected = square_distance(query, cloud).sort(-1)
    torch.testing.assert_close(dist2, expected.values[..., :8])
    assert torch.all(idx[..., 0] == torch.arange(5))  # each query point is its own nearest neighbour
    radius = 0.15
    ball = ball_query(query, cloud, radius, 8)
    far = dist2 > radius**2
    assert torch.equal(ball[far], idx[..., :1].expand_as(idx)[far]) and torch.equal(ball[~far], idx[~far])


def test_group_gives_centroid_relative_coordinates_then_features(cloud):
    features = torch.arange(200.0).view(1, 200, 1).expand(3, -1, -1)
    idx = torch.tensor([[[1, 2]]]).expand(3, 1, 2)
    centroids = cloud[:, :1]
    grouped = group(cloud, features, centroids, idx)
    assert grouped.shape == (3, 1, 2, 4)
    torch.testing.assert_close(grouped[:, 0, :, :3], cloud[:, 1:3] - centroids)
    assert grouped[0, 0, :, 3].tolist() == [1.0, 2.0]


def test_interpolation_is_exact_at_known_points_and_a_convex_mix_elsewhere(cloud):
    known, features = cloud[:, :20], torch.randn(3, 20, 5)
    torch.testing.assert_close(interpolate(known, known, features), features, atol=1e-4, rtol=1e-4)
    mid = interpolate(cloud[:, 20:], known, torch.ones(3, 20, 1))
    torch.testing.assert_close(mid, torch.ones_like(mid))  # weights sum to one
